"""Only voiceclone.provider may import the elevenlabs SDK, and no SDK/httpx exception may leave it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from voiceclone import provider

REPO = Path(__file__).resolve().parents[2]
EXCLUDED = {REPO / ".venv", REPO / "tests", REPO / "voiceclone" / "provider"}


def _python_files():
    for path in REPO.rglob("*.py"):
        if any(path.is_relative_to(excluded) for excluded in EXCLUDED):
            continue
        if any(part.startswith(".") for part in path.relative_to(REPO).parts):
            continue
        yield path


def _imports_elevenlabs(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "elevenlabs" for a in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "elevenlabs":
            lines.append(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).split(".")[0] == "elevenlabs"
        ):
            lines.append(node.lineno)
    return lines


def test_no_module_outside_the_provider_imports_the_sdk():
    files = list(_python_files())
    assert any(p.name == "settings.py" for p in files)  # the walk does see the project

    offenders = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [f"{path.relative_to(REPO)}:{line}" for line in _imports_elevenlabs(tree)]

    assert offenders == []


def test_the_provider_itself_is_where_the_sdk_is_imported():
    provider_dir = REPO / "voiceclone" / "provider"
    importing = [
        p.name for p in provider_dir.glob("*.py") if _imports_elevenlabs(ast.parse(p.read_text(encoding="utf-8")))
    ]
    assert importing  # guards the walker above against silently matching nothing


@pytest.mark.parametrize(
    "error_type",
    [
        provider.VoiceLimitReached,
        provider.RateLimited,
        provider.ProviderUnavailable,
        provider.VoiceNotFound,
        provider.InvalidRequest,
        provider.AuthFailed,
        provider.QuotaExceeded,
    ],
)
def test_every_error_type_is_a_provider_error(error_type):
    error = error_type("boom")
    assert isinstance(error, provider.ProviderError)
    assert str(error) == "boom"
    assert error.retryable is (error_type in (provider.RateLimited, provider.ProviderUnavailable))
