"""Sign-up, log-in and log-out pages. Log-in is Django's LoginView with attempt limits."""

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_http_methods

from voiceclone import ratelimit
from voiceclone.errors import wait_phrase


class ThrottledAuthenticationMixin:
    """Count each sign-in attempt (voiceclone.ratelimit) before the password is checked.

    When the username or the client address has used its allowance, the form is invalid with a
    message saying when to try again, and `retry_after_s` tells the view to answer 429.
    """

    retry_after_s: int | None = None

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if self.request is not None:
            self.retry_after_s = ratelimit.login_attempt(request=self.request, username=username)
        if self.retry_after_s is not None:
            raise ValidationError(
                f"Too many sign-in attempts. For your account's safety, try again {wait_phrase(self.retry_after_s)}.",
                code="throttled",
            )
        return super().clean()


class ThrottledAuthenticationForm(ThrottledAuthenticationMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledAuthenticationMixin, AdminAuthenticationForm):
    pass


class LoginView(auth_views.LoginView):
    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after_s is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after_s)
        return response


@require_http_methods(["GET", "POST"])
def signup(request):
    """Create an account, log it in and land on the voice list."""
    if request.user.is_authenticated:
        return redirect("voice-list")
    form = UserCreationForm(request.POST or None)
    retry_after_s = None
    if request.method == "POST" and form.is_valid():
        # Accounts made, per client address: a script cannot mint accounts (each with its own limits).
        retry_after_s = ratelimit.attempt("signup-ip", ratelimit.client_ip(request), settings.SIGNUP_RATE_PER_IP)
        if retry_after_s is None:
            user = form.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("voice-list")
        form.add_error(None, ValidationError(
            f"Too many accounts were made from your network. Try again {wait_phrase(retry_after_s)}.",
            code="throttled"))
    response = render(request, "registration/signup.html", {"form": form})
    if retry_after_s is not None:
        response.status_code = 429
        response["Retry-After"] = str(retry_after_s)
    return response


class LogoutView(auth_views.LogoutView):
    """Django's LogoutView, then a message on the login page it lands on.

    The message survives the session flush: the fallback message storage keeps it in a cookie.
    """

    def post(self, request, *args, **kwargs):
        was_logged_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_logged_in:
            messages.success(request, "You are logged out. See you soon!")
        return response


def favicon(request):
    """Browsers ask for /favicon.ico on pages without an icon link (the API's JSON, the schema)."""
    return redirect(static("favicon.svg"), permanent=False)
