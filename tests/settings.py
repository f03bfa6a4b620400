"""Test settings: the real settings, with django-q2 in sync mode and fast provider backoff.

Q_CLUSTER is read when django_q is imported, so sync mode must be set here, before Django starts.
DATABASE_URL / REDIS_URL / AWS_* in the environment still switch profiles, as in production.
"""

import atexit
import os
import shutil
import tempfile

# The S3 profile (CI pass 2, .ci/run): TEST_S3_SERVER=moto starts moto's standalone S3 server in this test
# process (each xdist worker its own), makes a bucket and points the real settings at it through the same
# variables a deployment sets, before they are read below. tests/s3_server.py says more.
if os.environ.get("TEST_S3_SERVER", "").strip():
    from tests.s3_server import start_for_settings

    os.environ.update(start_for_settings(os.environ["TEST_S3_SERVER"].strip()))

from voiceclone.settings import *  # noqa: E402, F403
from voiceclone.settings import Q_CLUSTER  # noqa: E402

Q_CLUSTER["sync"] = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="voiceclone-test-media-")
STATIC_ROOT = tempfile.mkdtemp(prefix="voiceclone-test-static-")  # whitenoise wants it to exist
# Event streams under the test server (WSGI) end soon, so a test reading one to its end does not wait.
SSE_WSGI_MAX_S = 1.0
SPOOL_DIR = tempfile.mkdtemp(prefix="voiceclone-test-spool-")
for _tmp in (MEDIA_ROOT, STATIC_ROOT, SPOOL_DIR):
    atexit.register(shutil.rmtree, _tmp, ignore_errors=True)
if STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):  # noqa: F405
    STORAGES["default"]["OPTIONS"]["location"] = MEDIA_ROOT  # noqa: F405
PROVIDER_BACKOFF_BASE_S = 0.01
PROVIDER_BACKOFF_MAX_S = 0.05
# The production default: a voice creation analyses every sample, which on a loaded two-core machine took
# over 10 s (a spurious ReadTimeout). Tests of timeouts set their own.
ELEVENLABS_TIMEOUT_S = 30.0
# Limits are off for the suite (tests repeat requests far faster than a person); the tests of the
# limits switch each one on with the `settings` fixture. Their counters live in the test database's
# cache table (rolled back with each test) or, on the Redis profile, under this run's own prefix.
API_THROTTLE_USER = API_THROTTLE_ANON = ""
LOGIN_RATE_PER_USERNAME = LOGIN_RATE_PER_IP = SIGNUP_RATE_PER_IP = VOICE_CREATE_RATE = CHAT_TURN_RATE = None
TTS_DAILY_CHARS_PER_USER = 0
if "KEY_PREFIX" in CACHES["default"]:  # noqa: F405
    import uuid as _uuid

    CACHES["default"]["KEY_PREFIX"] = f"voiceclone-test-{_uuid.uuid4().hex[:8]}"  # noqa: F405
LLM_BASE_URL = ""
# Tests never talk to the real provider: the session fixture points this at the emulator.
ELEVENLABS_API_KEY = "test-key"
ELEVENLABS_BASE_URL = "http://127.0.0.1:9"  # replaced by the `emulator` fixture at session start
