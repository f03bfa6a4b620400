from django.urls import path

from . import views

urlpatterns = [
    path("voices/<uuid:pk>/persona/versions/", views.PersonaVersionListView.as_view(), name="persona-version-list"),
    path("voices/<uuid:pk>/persona/versions/<int:number>/rollback/", views.PersonaRollbackView.as_view(),
         name="persona-version-rollback"),
    path("voices/<uuid:pk>/persona/drafts/", views.PersonaDraftListView.as_view(), name="persona-draft-list"),
    path("voices/<uuid:pk>/persona/drafts/<int:draft_id>/", views.PersonaDraftDetailView.as_view(),
         name="persona-draft-detail"),
    path("voices/<uuid:pk>/persona/drafts/<int:draft_id>/accept/", views.PersonaDraftAcceptView.as_view(),
         name="persona-draft-accept"),
    path("voices/<uuid:pk>/persona/drafts/<int:draft_id>/discard/", views.PersonaDraftDiscardView.as_view(),
         name="persona-draft-discard"),
]
