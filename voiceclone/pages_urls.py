"""Page URLs (rendered end-user pages): accounts, voices, conversations and the chat page.

API routes live in the `api` URL namespace (voiceclone/urls.py), so page names such as
`voice-list` and `conversation-detail` never collide with the router's names.
"""

from django.urls import path
from django.views.generic import RedirectView

from clones import views as clone_views
from conversations import views as conversation_views
from voiceclone import accounts_views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="voice-list", permanent=False), name="home"),
    # Accounts
    path("signup/", accounts_views.signup, name="signup"),
    path("login/", accounts_views.LoginView.as_view(), name="login"),
    path("logout/", accounts_views.LogoutView.as_view(), name="logout"),
    path("favicon.ico", accounts_views.favicon, name="favicon"),
    # Voices
    path("voices/", clone_views.voice_list, name="voice-list"),
    path("voices/new/", clone_views.voice_create, name="voice-create"),
    path("voices/consent-phrase/", clone_views.consent_phrase, name="voice-consent-phrase"),
    path("consent/<str:token>/", clone_views.consent_remote, name="consent-remote"),
    path("voices/<uuid:voice_id>/", clone_views.voice_detail, name="voice-detail"),
    path("voices/<uuid:voice_id>/edit/", clone_views.voice_update, name="voice-update"),
    path("voices/<uuid:voice_id>/retry/", clone_views.voice_retry, name="voice-retry"),
    path("voices/<uuid:voice_id>/disable/", clone_views.voice_disable, name="voice-disable"),
    path("voices/<uuid:voice_id>/consent/revoke/", clone_views.voice_consent_revoke, name="voice-consent-revoke"),
    path("voices/<uuid:voice_id>/consent/link/", clone_views.voice_consent_link, name="voice-consent-link"),
    path("voices/<uuid:voice_id>/originals/", clone_views.voice_originals_add, name="voice-originals-add"),
    path("voices/<uuid:voice_id>/originals/<int:clip_id>/retire/", clone_views.voice_original_retire,
         name="voice-original-retire"),
    path("voices/<uuid:voice_id>/originals/<int:clip_id>/restore/", clone_views.voice_original_restore,
         name="voice-original-restore"),
    # Conversations and the chat page
    path("conversations/", conversation_views.conversation_list, name="conversation-list"),
    path("conversations/new/", conversation_views.conversation_create, name="conversation-create"),
    path(
        "conversations/<uuid:conversation_id>/",
        conversation_views.conversation_detail,
        name="conversation-detail",
    ),
    path(
        "conversations/<uuid:conversation_id>/archive/",
        conversation_views.conversation_archive,
        name="conversation-archive",
    ),
    path(
        "conversations/<uuid:conversation_id>/unarchive/",
        conversation_views.conversation_unarchive,
        name="conversation-unarchive",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/<uuid:message_id>/retry/",
        conversation_views.conversation_message_retry,
        name="conversation-message-retry",
    ),
]
