from django.urls import path

from . import views

urlpatterns = [
    path("voices/<uuid:voice_id>/persona/draft/", views.persona_draft_request, name="persona-draft-request"),
    path("voices/<uuid:voice_id>/persona/drafts/<int:draft_id>/accept/", views.persona_draft_accept,
         name="persona-draft-accept-page"),
    path("voices/<uuid:voice_id>/persona/drafts/<int:draft_id>/discard/", views.persona_draft_discard,
         name="persona-draft-discard-page"),
    path("voices/<uuid:voice_id>/persona/versions/<int:number>/restore/", views.persona_version_restore,
         name="persona-version-restore"),
]
