"""Sign-up, log-in and log-out pages."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def test_signup_creates_account_logs_in_and_lands_on_voices(client):
    response = client.post(
        reverse("signup"),
        {"username": "carol", "password1": "a sturdy pass phrase 42", "password2": "a sturdy pass phrase 42"},
    )
    assert response.status_code == 302
    assert response.url == reverse("voice-list")
    assert get_user_model().objects.filter(username="carol").exists()

    page = client.get(reverse("voice-list"))
    assert page.status_code == 200
    assert page.context["user"].username == "carol"
    assert "You have no voices yet" in page.content.decode()


def test_signup_with_mismatched_passwords_shows_error_and_creates_nothing(client):
    response = client.post(
        reverse("signup"),
        {"username": "carol", "password1": "a sturdy pass phrase 42", "password2": "something else 42"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["password2"]
    assert not get_user_model().objects.filter(username="carol").exists()


def test_login_with_correct_password_redirects_to_voices(client, alice):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert 'name="username"' in page.content.decode()

    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("voice-list")
    assert client.get(reverse("voice-list")).status_code == 200


def test_login_with_wrong_password_is_refused(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert client.get(reverse("voice-list")).status_code == 302


def test_logout_by_post_ends_the_session(client, alice):
    client.force_login(alice)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response.url == reverse("login")
    after = client.get(reverse("voice-list"))
    assert after.status_code == 302
    assert after.url.startswith(reverse("login"))


@pytest.mark.parametrize("name", ["voice-list", "voice-create", "conversation-list", "conversation-create"])
def test_pages_require_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={reverse(name)}"


def test_root_redirects_to_voice_list(client, alice):
    client.force_login(alice)
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == reverse("voice-list")
