"""The project's URLs plus a view that fails, under /api/ and outside it (tests of the JSON 500)."""

from django.urls import path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny

from voiceclone.urls import urlpatterns as project_urlpatterns


@api_view(["GET"])
@permission_classes([AllowAny])
def fails(request):
    raise RuntimeError("fails on purpose")


def page_fails(request):
    raise RuntimeError("fails on purpose")


urlpatterns = [
    path("api/v1/fails/", fails),
    path("not-api/fails/", page_fails),
    *project_urlpatterns,
]
