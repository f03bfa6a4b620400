from django.apps import AppConfig


class ClonesConfig(AppConfig):
    name = "clones"
