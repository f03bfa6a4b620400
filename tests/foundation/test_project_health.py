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


def test_openapi_schema_generates_without_warnings(tmp_path):
    # drf-spectacular warns when an endpoint's request or response shape cannot be documented.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert (tmp_path / "schema.yml").read_text().count("operationId") > 20
