"""The project is consistent: system checks pass and the models match their migrations."""

from io import StringIO

import pytest
from django.core.management import call_command


def test_system_checks_pass():
    out = StringIO()
    call_command("check", stdout=out)
    assert "no issues" in out.getvalue()


@pytest.mark.django_db
def test_no_missing_migrations():
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())
