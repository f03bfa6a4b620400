"""README and docs/ are self-contained and their commands run on the machine the README promises ("a fresh
machine with Python 3.11"): no path outside the repository, every `docs/…` they name exists, and the shell
blocks call only the repository's own scripts, shell built-ins, curl, jq and Python. Re-checked from a fresh
clone: the README's first API calls used `uuidgen`, which a Debian or python:3.11 image does not have."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = frozenset("""
    cd export set unset echo printf test [ until while for do done if then else fi sleep true false read wait
    kill trap exit source . local
""".split())
TOOLS = frozenset({"curl", "jq", "python3", "python"})
FENCE = re.compile(r"```(?:bash|sh|shell|console)\n(.*?)```", re.S)
COMMAND_START = re.compile(r"(?:^|[|;&]|\$\(|\bdo\b|\bthen\b)\s*((?:[A-Z0-9_]+=\S*\s+)*)([A-Za-z0-9_./\[-]+)(?![=\w./\[-])", re.M)
# Tools some docs name for what they describe, beyond a newcomer's first hour, with why they may.
NAMED_FOR_THEIR_TOPIC = {
    ("api-guide.md", "mpv"): "an optional player, to hear a reply stream as it arrives",
    ("scale.md", "psql"): "the scale-out profile's PostgreSQL, which that document is about",
}


def _commands(block: str):
    text = re.sub(r"\\\n", " ", block)
    text = re.sub(r"'[^']*'", "''", text)  # quoted text is data, not commands
    text = re.sub(r'-c "[^"]*"', "-c ''", text)  # python3 -c "…": a program, not shell commands
    text = re.sub(r'"(?:[^"$]|\$(?!\())*"', '""', text)  # "… $VAR …" too, unless it runs a command
    text = re.sub(r"#.*", "", text)
    for match in COMMAND_START.finditer(text):
        word = match.group(2)
        if word and not word.startswith("-"):
            yield word


def test_no_path_outside_the_repository():
    for doc in DOCS:
        text = doc.read_text()
        assert "../shared" not in text, doc.name
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if not re.match(r"[a-z]+://", target):
                assert (doc.parent / target).resolve().is_relative_to(ROOT), (doc.name, target)
                assert (doc.parent / target).exists(), (doc.name, target)


def test_every_named_doc_exists():
    for doc in DOCS:
        for name in re.findall(r"\bdocs/([\w-]+\.md)\b", doc.read_text()):
            assert (ROOT / "docs" / name).exists(), (doc.name, name)


def test_shell_blocks_call_only_what_a_fresh_machine_has():
    unknown = set()
    for doc in DOCS:
        for block in FENCE.findall(doc.read_text()):
            for word in _commands(block):
                if word in SHELL or word in TOOLS or (ROOT / word).exists() or word.startswith((".venv/", "bin/")):
                    continue
                unknown.add((doc.name, word))
    assert unknown - set(NAMED_FOR_THEIR_TOPIC) == set(), sorted(unknown - set(NAMED_FOR_THEIR_TOPIC))
