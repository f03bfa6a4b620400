from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "voiceclone.events"
    label = "events"
    verbose_name = "Events and webhooks"
