from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "Provider usage (cost ledger)"

    def ready(self):
        from voiceclone.provider import usage as provider_usage

        from .services import usage_record_from_provider

        # The provider adapter is the single place provider calls are made: every billed call reports here.
        provider_usage.listener_register(usage_record_from_provider)
