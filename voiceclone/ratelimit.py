"""Attempt limits over a rolling window, counted in the shared cache so they hold across processes and hosts.

Used for what must not be done too often by one person, whatever the surface (API, pages, admin):
sign-in attempts per username and per client IP, voice creations and chat turns per user
(docs/api-errors.md lists the limits). The API's general request throttles are DRF's own
(`voiceclone.throttling`), on the same cache.

A rate of N per period is N numbered slots per scope and ident, each a cache key that lives for one
period. An attempt claims a free slot with `cache.add`, which is atomic in Redis (SET NX) and in the
database cache (an INSERT on a unique key); `incr` is a read-then-write in the database cache and
loses counts in a burst. So at most N attempts succeed in any period, even when they arrive at once,
and a slot frees exactly one period after it was claimed: a rolling window, with no reset at a
clock boundary that would let 2N through back to back.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

# Rounds of "read the free slots, try to claim one": a claim fails when another process took the slot
# meanwhile, or on a transient cache error (the database cache reports both as False; on SQLite a
# concurrent writer makes it fail at once). Backing off 20 ms, doubling, gives about 1.3 s in all.
_CLAIM_ROUNDS = 7


def attempt(scope: str, ident: str, rate: tuple[int, int] | None) -> int | None:
    """Count one attempt of `ident` (a username, user id or IP) against `rate` (count, period seconds).

    Returns None when the attempt is allowed, else the seconds until a slot frees (for a Retry-After
    header); a refused attempt is not counted. `rate` None means no limit. When the cache fails to
    record the attempt, it is allowed (and a warning logged).
    """
    if rate is None:
        return None
    count, period_s = rate
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    keys = [f"rl:{scope}:{count}/{period_s}:{digest}:{slot}" for slot in range(count)]
    for round_ in range(_CLAIM_ROUNDS):
        now = time.time()
        taken = cache.get_many(keys)  # slot key -> when it was claimed
        if len(taken) >= count:
            oldest = min(taken.values())
            return max(1, math.ceil(oldest + period_s - now))
        for key in keys:
            if key not in taken and cache.add(key, now, period_s):
                return None
        time.sleep(0.02 * 2**round_)
    # Free slots were seen but none could be written: the cache is failing, not the caller. Like
    # DRF's throttles (whose writes fail silently), let the attempt through rather than lock
    # everyone out while the cache is down.
    logger.warning("rate limit %s: the cache refused every write; allowing the attempt", scope)
    return None


def attempt_or_refuse(scope: str, ident: str, rate: tuple[int, int] | None, *, what: str) -> None:
    """`attempt`, raising RateLimited (429, code `throttled`) when refused. `what` names the action
    for the message, e.g. "voice creations"."""
    from voiceclone.errors import RateLimited, wait_phrase

    retry_after = attempt(scope, ident, rate)
    if retry_after is not None:
        count, period_s = rate
        raise RateLimited(
            f"Too many {what}: at most {count} every {_period_phrase(period_s)}. Try again {wait_phrase(retry_after)}.",
            retry_after_s=retry_after,
        )


def _period_phrase(period_s: int) -> str:
    for unit, seconds in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if period_s % seconds == 0:
            n = period_s // seconds
            return unit if n == 1 else f"{n} {unit}s"
    return f"{period_s} seconds"


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, or X-Forwarded-For behind `NUM_PROXIES` trusted proxies
    (the same rule as DRF's throttles, so every limit agrees on who the caller is)."""
    return BaseThrottle().get_ident(request)


def login_attempt(*, request, username: str) -> int | None:
    """Count a sign-in attempt (token API, login page, admin); None if allowed, else Retry-After seconds.

    Checked per client IP first, then per username (case-insensitively, so `Alice` and `alice` share
    one allowance); every attempt counts, successful or not, so a burst cannot slip in before the
    failures are recorded.
    """
    from django.conf import settings

    retry = attempt("login-ip", client_ip(request), settings.LOGIN_RATE_PER_IP)
    if retry is None and username:
        retry = attempt("login-username", str(username).casefold(), settings.LOGIN_RATE_PER_USERNAME)
    return retry
