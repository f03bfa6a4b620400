"""django-q2 entry points for events: load by id, call one service."""

from . import services


def webhook_delivery_attempt(delivery_id: int) -> None:
    services.webhook_delivery_attempt(delivery_id=delivery_id)


def webhook_deliveries_sweep() -> int:
    return services.webhook_deliveries_sweep()
