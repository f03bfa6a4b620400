"""Production-safe settings (issue 9): no well-known admin password without DEBUG, a strong SECRET_KEY,
HTTPS switches on by default, `check --deploy` clean, and static files served with DEBUG off."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from clones.models import Voice

ROOT = Path(__file__).resolve().parents[2]
# Fixed (parametrised test ids must match across xdist workers), long and varied: Django calls it strong.
GOOD_KEY = "t3st-only_" + "".join(chr(0x41 + (i * 7) % 58) for i in range(60))
# DJANGO_ALLOW_ASYNC_UNSAFE: the browser tests set it in this process; a deployment must not have it.
_OWN_VARS = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "DEBUG", "SECRET_KEY", "VAR_DIR", "REDIS_URL",
             "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
             "DJANGO_ALLOW_ASYNC_UNSAFE")


def run(tmp_path, args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in _OWN_VARS}
    clean.update(DJANGO_SETTINGS_MODULE="voiceclone.settings", VAR_DIR=str(tmp_path), **env)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = run(tmp_path, ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                 DEBUG="false", SECRET_KEY=GOOD_KEY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_switches_are_on_without_debug_and_can_be_turned_off(tmp_path):
    probe = ("import django, json; django.setup(); from django.conf import settings as s; print(json.dumps("
             "[s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
             "getattr(s, 'SECURE_PROXY_SSL_HEADER', None)]))")
    production = run(tmp_path, ["-c", probe], DEBUG="false", SECRET_KEY=GOOD_KEY)
    assert production.stdout.strip() == '[true, 31536000, true, true, null]', production.stderr
    local_http = run(tmp_path, ["-c", probe], DEBUG="false", SECRET_KEY=GOOD_KEY, SECURE_SSL_REDIRECT="false",
                     SECURE_HSTS_SECONDS="0", SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false",
                     TRUST_X_FORWARDED_PROTO="true")
    assert local_http.stdout.strip() == '[false, 0, false, false, ["HTTP_X_FORWARDED_PROTO", "https"]]'
    development = run(tmp_path, ["-c", probe])
    assert development.stdout.strip() == '[false, 0, false, false, null]'


@pytest.mark.parametrize("key, debug, message", [
    ("", "true", "SECRET_KEY is set but empty"),
    ("", "false", "SECRET_KEY is set but empty"),
    ("a-real-secret", "false", "SECRET_KEY is too weak"),
    ("x" * 60, "false", "SECRET_KEY is too weak"),  # too few distinct characters
    ("django-insecure-" + GOOD_KEY, "false", "SECRET_KEY is too weak"),
])
def test_a_blank_or_weak_secret_key_is_refused(tmp_path, key, debug, message):
    result = run(tmp_path, ["-c", "import django; django.setup()"], DEBUG=debug, SECRET_KEY=key)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_static_files_are_served_with_debug_off_after_collectstatic(tmp_path):
    env = {"DEBUG": "false", "SECRET_KEY": GOOD_KEY, "SECURE_SSL_REDIRECT": "false"}
    collected = run(tmp_path, ["manage.py", "collectstatic", "--no-input", "-v0"], **env)
    assert collected.returncode == 0, collected.stderr
    probe = ("import django; django.setup(); from django.test import Client; "
             "r = Client().get('/static/js/chat.js'); print(r.status_code, r.headers.get('Content-Type'))")
    served = run(tmp_path, ["-c", probe], **env)
    assert served.stdout.strip().startswith("200 text/javascript"), served.stdout + served.stderr
    assert (tmp_path / "staticfiles" / "js" / "chat.js.gz").exists()  # compressed at collect time


# --- manage.py demo ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_demo_without_debug_creates_no_admin_with_a_known_password(settings, emulator_ctl, run_tasks):
    settings.DEBUG = False
    out = StringIO()
    call_command("demo", stdout=out)
    assert "no demo admin created" in out.getvalue()
    assert not get_user_model().objects.filter(username="admin").exists()

    out = StringIO()
    with run_tasks():
        call_command("demo", "--admin", stdout=out)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and not admin.check_password("voiceclone-demo")
    printed = out.getvalue()
    password = printed.split("Demo admin: admin / ", 1)[1].split()[0]
    assert len(password) >= 20 and admin.check_password(password)
    assert Voice.objects.filter(owner=admin, status="ready").count() == 1
    again = StringIO()
    call_command("demo", stdout=again)  # the password is shown once, never again
    assert password not in again.getvalue()


@pytest.mark.django_db
def test_demo_replaces_the_known_password_when_debug_is_turned_off(settings, emulator_ctl, run_tasks):
    settings.DEBUG = True
    with run_tasks():
        call_command("demo", stdout=StringIO())
    assert get_user_model().objects.get(username="admin").check_password("voiceclone-demo")
    settings.DEBUG = False
    out = StringIO()
    call_command("demo", stdout=out)
    admin = get_user_model().objects.get(username="admin")
    assert not admin.check_password("voiceclone-demo")
    assert "voiceclone-demo" not in out.getvalue() and "shown only now" in out.getvalue()
