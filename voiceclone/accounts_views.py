"""Sign-up page. Log-in and log-out are Django's own LoginView / LogoutView (see pages_urls)."""

from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render
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
