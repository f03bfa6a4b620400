from django.apps import AppConfig


class VoiceCloneConfig(AppConfig):
    """The project package is an app so its management commands (emulator, demo, ...) are found."""

    name = "voiceclone"
    verbose_name = "voiceclone"

    def ready(self):
        from voiceclone.observability import task_signals  # noqa: F401 - connects the task metrics
