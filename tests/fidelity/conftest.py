import pytest


@pytest.fixture
def small_retrain(settings):
    """A handful of conversations is enough to retrain in the gate's tests (the defaults want 20)."""
    settings.RETRAIN_MIN_CONVERSATIONS = 3
    settings.RETRAIN_MIN_APPROVED_CLIPS = 3
    return settings
