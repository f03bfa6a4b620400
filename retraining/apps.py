from django.apps import AppConfig


class RetrainingConfig(AppConfig):
    name = "retraining"
