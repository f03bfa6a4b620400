from django.urls import path

from . import views

urlpatterns = [
    path("voices/import/", views.VoiceKitImportView.as_view(), name="voice-kit-import"),
    path("voices/<uuid:pk>/export/", views.VoiceKitExportView.as_view(), name="voice-kit-export"),
    path("voices/<uuid:pk>/import/", views.VoiceKitImportStatusView.as_view(), name="voice-kit-import-status"),
]
