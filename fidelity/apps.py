from django.apps import AppConfig


class FidelityConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "fidelity"
    verbose_name = "Clone fidelity"
