"""Sign-up and log-out pages. Log-in is Django's own LoginView (see pages_urls)."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_http_methods


@require_http_methods(["GET", "POST"])
def signup(request):
    """Create an account, log it in and land on the voice list."""
    if request.user.is_authenticated:
        return redirect("voice-list")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("voice-list")
    return render(request, "registration/signup.html", {"form": form})


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
