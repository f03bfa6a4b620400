from django.urls import path

from . import views

urlpatterns = [
    path("voices/import/", views.voice_kit_import, name="voice-kit-import-page"),
    path("voices/<uuid:voice_id>/kit/", views.voice_kit_download, name="voice-kit-download"),
    path("conversations/<uuid:conversation_id>/export/", views.conversation_export_download,
         name="conversation-export-download"),
]
