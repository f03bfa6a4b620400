"""The offline responder: deterministic, in character, honest about what it is."""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from voiceclone.replies import OFFLINE_ENGINE_LABEL, OfflineEngine, ReplyRequest, Turn
from voiceclone.replies.offline import message_kind

PERSONA = "You are Ada, a cheerful baker from Leeds. You love sourdough and talk warmly."


def _reply(message: str, *, persona: str = PERSONA, voice_name: str = "Ada (v2)"):
    history = [Turn("user", "Hi"), Turn("assistant", "Hello!"), Turn("user", message)]
    return OfflineEngine().reply(ReplyRequest(persona=persona, voice_name=voice_name, history=history))


def test_offline_reply_is_labelled_offline():
    result = _reply("What should I bake?")

    assert result.engine == "offline"
    assert result.is_offline is True
    assert result.model is None
    assert result.usage is None
    assert result.label == OFFLINE_ENGINE_LABEL == "Offline responder — no language model configured"


def test_offline_reply_is_deterministic():
    message = "What's the best way to keep a sourdough starter alive?"

    assert _reply(message) == _reply(message)


def test_offline_reply_is_the_same_in_every_process():
    # str hashes are salted per process; two workers must still agree on the reply.
    code = (
        "from voiceclone.replies import OfflineEngine, ReplyRequest, Turn;"
        f"print(OfflineEngine().reply(ReplyRequest(persona={PERSONA!r}, voice_name='Ada',"
        " history=[Turn('user', 'I baked a focaccia with rosemary today')])).text)"
    )
    root = Path(__file__).resolve().parents[2]
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], cwd=root, env={"PYTHONHASHSEED": seed},
            capture_output=True, text=True, check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }

    assert len(outputs) == 1
    assert outputs.pop().strip()


def test_offline_reply_mentions_persona_name():
    result = _reply("Hello!")

    assert "Ada" in result.text
    assert "(v2)" not in result.text


def test_offline_reply_finds_name_in_persona_written_other_ways():
    persona = "A grumpy pirate captain. You are a retired sailor named Jack Hawkins."

    assert "Jack Hawkins" in _reply("Hey", persona=persona).text


def test_offline_reply_falls_back_to_voice_name():
    persona = "Speak slowly and kindly. Keep answers short."

    assert "Grandpa Joe" in _reply("Good morning", persona=persona, voice_name="Grandpa Joe").text


def test_offline_reply_reflects_users_words():
    result = _reply("What's the best way to keep a sourdough starter alive?")

    assert "sourdough starter" in result.text.lower()


def test_offline_reply_reflects_statement_words():
    result = _reply("I went hiking in the Yorkshire Dales yesterday")

    assert "Yorkshire Dales" in result.text


def test_offline_reply_does_not_echo_persona_name_as_topic():
    result = _reply("Ada, what do you think about rye bread?")

    assert "rye bread" in result.text.lower()


def test_offline_replies_differ_for_different_messages():
    messages = [
        "What's the best way to keep a sourdough starter alive?",
        "How hot should the oven be for baguettes?",
        "I'm planning a picnic for Saturday",
        "My grandmother used to make parkin",
    ]

    replies = {_reply(message).text for message in messages}

    assert len(replies) == len(messages)


def test_offline_replies_differ_for_different_personas():
    persona = "You are Jack, a grumpy pirate captain."

    assert _reply("Hello!").text != _reply("Hello!", persona=persona).text


def test_offline_greeting_is_answered_with_a_greeting():
    result = _reply("Hi Ada, how are you?")

    assert re.match(r"(Hello|Hi|Hey)\b", result.text)
    assert "Ada" in result.text


def test_offline_question_is_answered_about_its_topic():
    result = _reply("How do you shape a bloomer loaf?")

    assert not re.match(r"(Hello|Hi|Hey)\b", result.text)
    assert "bloomer loaf" in result.text.lower()
    assert result.text.endswith((".", "?"))


def test_offline_thanks_is_acknowledged():
    result = _reply("Thanks so much!")

    assert re.search(r"welcome|pleasure|Any time", result.text)


@pytest.mark.parametrize("message", ["", "   ", "...", "🙂"])
def test_offline_reply_to_silence_asks_to_repeat(message):
    result = _reply(message)

    assert re.search(r"didn't quite catch|missed what you said", result.text)


def test_offline_reply_uses_persona_role():
    # Every template that can carry the role is picked for some message; find one.
    texts = [_reply(f"Hello number {n}").text for n in range(40)]
    texts += [
        _reply(f"My sister Harriet loves {word}").text
        for word in ("scones", "pies", "tarts", "flapjacks")
    ]

    assert any("a cheerful baker from Leeds" in text for text in texts)


@pytest.mark.parametrize("message", [
    "Hello!",
    "What's the best way to keep a sourdough starter alive?",
    "Thanks a lot",
    "",
    "I " + "really " * 100 + "extraordinarilyunbelievablylongword supercalifragilistic",
    "Why? " * 80,
])
def test_offline_reply_is_short_and_speakable(message):
    persona = "You are Maximilian Alexander Beaumont, " + "a very " * 30 + "long-winded narrator."

    for text in (_reply(message).text, _reply(message, persona=persona).text):
        assert 0 < len(text) <= 300
        assert 1 <= len(re.findall(r"[.!?](?:\s|$)", text)) <= 3
        assert not re.search(r"[*_#`\[\]<>]", text)
        assert not any(unicodedata.category(char) == "So" for char in text)  # emoji, symbols


def test_offline_reply_turns_possessives_round():
    result = _reply("My grandmother used to make parkin")

    assert "your grandmother" in result.text.lower()
    assert "my grandmother" not in result.text.lower()


@pytest.mark.parametrize(("message", "kind"), [
    ("Hello!", "greeting"),
    ("Good morning, Ada", "greeting"),
    ("Hi Ada, how are you?", "greeting"),
    ("Good point, I hadn't thought of that", "statement"),
    ("How long should I prove the dough?", "question"),
    ("can you recommend a flour", "question"),
    ("Thanks, that helps a lot", "thanks"),
    ("I burnt my croissants again", "statement"),
    ("", "empty"),
    ("?!", "empty"),
])
def test_offline_message_kinds(message, kind):
    # The persona's own name is not a topic: "Hi Ada" is just a greeting.
    assert message_kind(message, ignore=frozenset({"ada"})) == kind
