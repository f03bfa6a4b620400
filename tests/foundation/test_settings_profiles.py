"""Settings switch profiles from the environment alone, with laptop defaults, and refuse bad values."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
from django.conf import settings
django.setup()
from django.core.files.storage import default_storage
print(json.dumps({
    "db": settings.DATABASES["default"]["ENGINE"],
    "db_name": settings.DATABASES["default"]["NAME"],
    "storage": type(default_storage._wrapped if hasattr(default_storage, "_wrapped") else default_storage).__name__,
    "storage_backend": settings.STORAGES["default"]["BACKEND"],
    "broker": "redis" if "redis" in settings.Q_CLUSTER else ("orm" if "orm" in settings.Q_CLUSTER else "?"),
    "redis": settings.Q_CLUSTER.get("redis"),
    "use_emulator": settings.USE_EMULATOR,
    "el_base": settings.ELEVENLABS_BASE_URL,
    "el_key_set": bool(settings.ELEVENLABS_API_KEY),
    "window": settings.RETRAIN_WINDOW_DAYS,
    "debug": settings.DEBUG,
}))
"""
PROFILE_VARS = (
    "DATABASE_URL", "REDIS_URL", "AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL", "ELEVENLABS_API_KEY",
    "ELEVENLABS_BASE_URL", "ELEVENLABS_EMULATOR_URL", "DEBUG", "SECRET_KEY", "RETRAIN_WINDOW_DAYS",
)


def load(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if k not in PROFILE_VARS and k != "DJANGO_SETTINGS_MODULE"}
    clean.update(DJANGO_SETTINGS_MODULE="voiceclone.settings", VAR_DIR=str(tmp_path), **env)
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True,
                            timeout=60)
    return result


def profile(tmp_path, **env) -> dict:
    result = load(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_defaults_are_the_embedded_profile(tmp_path):
    p = profile(tmp_path)
    assert p["db"] == "django.db.backends.sqlite3"
    assert p["db_name"] == str(tmp_path / "db.sqlite3")
    assert p["storage_backend"] == "django.core.files.storage.FileSystemStorage"
    assert p["broker"] == "orm"
    assert p["use_emulator"] is True
    assert p["el_base"] == "http://127.0.0.1:8765"
    assert p["window"] == 30


def test_blank_database_and_redis_urls_mean_the_embedded_default(tmp_path):
    # `DATABASE_URL= bin/run` (a blank line in an env file, a variable cleared in a shell) crashed every
    # process with KeyError: 'ENGINE' instead of starting on SQLite.
    p = profile(tmp_path, DATABASE_URL="", REDIS_URL="")
    assert p["db"] == "django.db.backends.sqlite3"
    assert p["db_name"] == str(tmp_path / "db.sqlite3")
    assert p["broker"] == "orm"


def test_scale_out_profile_is_switched_by_environment_only(tmp_path):
    p = profile(
        tmp_path,
        DATABASE_URL="postgres://someone@db.example:5432/voiceclone",
        REDIS_URL="redis://cache.example:6379/0",
        AWS_STORAGE_BUCKET_NAME="voice-audio",
        AWS_S3_ENDPOINT_URL="http://s3.example:9000",
        ELEVENLABS_API_KEY="sk-real",
        RETRAIN_WINDOW_DAYS="0",
    )
    assert p["db"] == "django.db.backends.postgresql"
    assert p["broker"] == "redis" and p["redis"] == "redis://cache.example:6379/0"
    assert p["storage_backend"] == "storages.backends.s3.S3Storage"
    assert p["use_emulator"] is False
    assert p["el_base"] is None  # the SDK's production default
    assert p["window"] is None  # 0 = no limit


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DEBUG": "false"}, "SECRET_KEY"),
        ({"DEBUG": "perhaps"}, "DEBUG must be a boolean"),
        ({"RETRAIN_WINDOW_DAYS": "thirty"}, "RETRAIN_WINDOW_DAYS must be an integer"),
    ],
)
def test_bad_values_refuse_to_start(tmp_path, env, message):
    result = load(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_production_settings_start_with_a_secret_key(tmp_path):
    assert profile(tmp_path, DEBUG="false", SECRET_KEY="k3y-" + "0123456789abcdef" * 4)["debug"] is False
