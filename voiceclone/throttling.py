"""DRF's request throttles with their rates read from settings at each request.

DRF binds `DEFAULT_THROTTLE_RATES` when its throttle module is imported, so a rate changed later
(`override_settings` in a test, or an empty value meaning "off") would be ignored; these classes ask
`settings.API_THROTTLE_USER` / `API_THROTTLE_ANON` instead. An empty rate disables the throttle.
Their counters live in the shared cache (settings.CACHES), so every process counts together.
"""

from django.conf import settings
from rest_framework import throttling


class UserRateThrottle(throttling.UserRateThrottle):
    def get_rate(self):
        return settings.API_THROTTLE_USER or None


class AnonRateThrottle(throttling.AnonRateThrottle):
    def get_rate(self):
        return settings.API_THROTTLE_ANON or None
