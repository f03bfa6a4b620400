from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from clones.api.clips import ClipViewSet
from clones.api.originals import VoiceOriginalViewSet
from clones.api.views import VoiceViewSet
from conversations.api.export import ConversationExportView
from conversations.api.views import ConversationViewSet, MessageViewSet
from kits.api.urls import urlpatterns as kit_api_urls
from personas.api.urls import urlpatterns as persona_api_urls
from retraining.api.views import QuotaViewSet, RetrainRunViewSet
from usage.api.views import UsageView
from voiceclone import api_docs
from voiceclone.accounts_views import ThrottledAdminAuthenticationForm
from voiceclone.auth_api import ObtainTokenView
from voiceclone.events.api import EventViewSet, WebhookViewSet
from voiceclone.observability import health
from voiceclone.observability.views import metrics_view

# The admin's sign-in counts attempts like /login/ and the token API (voiceclone.ratelimit).
admin.site.login_form = ThrottledAdminAuthenticationForm

router = DefaultRouter()
router.register("voices", VoiceViewSet, basename="voice")
router.register(r"voices/(?P<voice_id>[0-9a-fA-F-]{32,36})/originals", VoiceOriginalViewSet, basename="voice-original")
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("messages", MessageViewSet, basename="message")
router.register("events", EventViewSet, basename="event")
router.register("clips", ClipViewSet, basename="clip")
router.register("retrain-runs", RetrainRunViewSet, basename="retrain-run")
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("quota", QuotaViewSet, basename="quota")

urlpatterns = [
    path("admin/", admin.site.urls),
    # Operations (docs/operations.md): checks for monitors and load balancers, Prometheus metrics.
    path("health/", health.health, name="health"),
    path("health/ready/", health.ready, name="health-ready"),
    path("health/live/", health.live, name="health-live"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/auth/token/", ObtainTokenView.as_view(), name="api-token"),
    # The documented spelling has no trailing slash; both reach the same view.
    path("api/v1/messages/<uuid:pk>/audio", MessageViewSet.as_view({"get": "audio"}), name="message-audio-bare"),
    path("api/v1/", include((
        # Voice kits, persona versions/drafts and conversation export (issue 15) beside the router's routes.
        kit_api_urls + persona_api_urls + [
            path("conversations/<uuid:pk>/export/", ConversationExportView.as_view(), name="conversation-export"),
            path("usage/", UsageView.as_view(), name="usage"),
        ] + router.urls, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI and Redoc from the installation, loading nothing from outside (voiceclone/api_docs.py).
    path("api/docs/", api_docs.swagger_ui, name="api-docs"),
    path("api/redoc/", api_docs.redoc, name="api-redoc"),
    path("", include("kits.urls")),
    path("", include("personas.urls")),
    path("", include("voiceclone.pages_urls")),
]
