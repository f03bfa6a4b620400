"""Audio as a client receives it, on either storage profile.

On the filesystem the app streams the bytes itself (200, or 206 for a Range); on S3 it answers 302 to a
presigned URL (tests/test_storage_s3.py checks that URL's lifetime), which a browser follows. `served`
follows that redirect only on the S3 profile, so a redirect on the filesystem still fails the test.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from django.conf import settings


@dataclass
class Served:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


def served(response, *, range_header: str | None = None) -> Served:
    if settings.USE_S3 and response.status_code == 302:
        followed = httpx.get(response["Location"], headers={"Range": range_header} if range_header else {})
        return Served(followed.status_code, {k.lower(): v for k, v in followed.headers.items()}, followed.content)
    body = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    return Served(response.status_code, {k.lower(): v for k, v in response.items()}, body)
