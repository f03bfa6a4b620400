"""The offline responder converses: in character (name, role, interests, tone, length) however the persona
is written, answers what the message does, varies by turn and conversation, never echoes transcript tags
or sentence fragments, never calls itself "<name>'s voice", and is always labelled offline."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from voiceclone.emulator.transcripts import PLACEHOLDER_PREFIX, placeholder_text
from voiceclone.replies import OFFLINE_ENGINE_LABEL, OfflineEngine, ReplyRequest, Turn
from voiceclone.replies.offline import (
    QUESTION,
    STATEMENT,
    YES_NO,
    clean_user_text,
    message_intent,
    persona_profile,
    spoken_voice_name,
    topic_of,
)

ADA = "You are Ada, a cheerful baker from Leeds. You love sourdough and talk warmly."

# Personas written every way people write them, with the voice's name and who should be speaking.
PERSONAS = [
    (ADA, "Ada (v2)", "Ada"),
    ("Sam is a retired fisherman from Cornwall. Gruff, speaks in short sentences, loves storms.", "Sam's voice", "Sam"),
    ("Name: Priya. Personality: playful and witty. Enjoys crosswords and bad puns.", "Priya's Voice", "Priya"),
    ("A formal butler named Jeeves who is passionate about tea.", "Butler voice", "Jeeves"),
    ("I'm Maya, a jazz singer. I love late-night gigs.", "Maya clone", "Maya"),
    ("Speak slowly and kindly. Keep answers short.", "Grandpa Joe's voice", "Grandpa Joe"),
    ("A grumpy pirate captain. You are a retired sailor named Jack Hawkins.", "Pirate", "Jack Hawkins"),
    ("", "Ada (demo)", "Ada"),
]

MESSAGES = [
    "Hello!", "Hi Ada, how are you?", "Who are you?", "Are you a real person?", "Tell me a short story",
    "Tell me a joke", "What's the best way to keep a sourdough starter alive?", "Do you like dogs?",
    "What do you think about rye bread?", "How do I shape a bloomer loaf?", "Can you tell me about the sea?",
    "My grandmother used to make parkin", "I went hiking in the Yorkshire Dales yesterday", "I'm so tired today",
    "I got the job!", "Thanks so much!", "yes", "no", "bye for now", "", "...", "🙂",
    "The weather is lovely and I think I will go for a long walk along the river later",
    "Why is the sky blue?", "Is it going to rain tomorrow?", "short story",
    f"{PLACEHOLDER_PREFIX} I would like to hear more about that.",
]


def reply(message: str, *, persona: str = ADA, voice_name: str = "Ada (v2)", history: list[Turn] | None = None):
    turns = [*(history or []), Turn("user", message)]
    return OfflineEngine().reply(ReplyRequest(persona=persona, voice_name=voice_name, history=turns))


def conversation(messages, *, persona=ADA, voice_name="Ada (v2)") -> list[str]:
    """Replies to `messages` said one after another in one conversation."""
    history: list[Turn] = []
    texts = []
    for message in messages:
        history.append(Turn("user", message))
        text = OfflineEngine().reply(ReplyRequest(persona=persona, voice_name=voice_name, history=history)).text
        history.append(Turn("assistant", text))
        texts.append(text)
    return texts


FUNCTION_WORDS = frozenset("""
    what do you i me my the a an to of and is are it that this for on in at with about how why think
    tell can could would will be was have has your we our they so not no yes
""".split())

ALL_REPLIES = [
    (persona, voice, message, text)
    for persona, voice, _ in PERSONAS
    for message, text in zip(MESSAGES, conversation(MESSAGES, persona=persona, voice_name=voice), strict=True)
]


# --- honest about what it is --------------------------------------------------------------------------


def test_offline_reply_is_labelled_offline():
    result = reply("What should I bake?")

    assert result.engine == "offline"
    assert result.is_offline is True
    assert result.model is None
    assert result.usage is None
    assert result.label == OFFLINE_ENGINE_LABEL == "Offline responder — no language model configured"


@pytest.mark.parametrize("message", ["Are you a real person?", "are you human?", "Is this a bot?", "Are you an AI?"])
def test_asked_whether_it_is_real_it_says_it_is_an_ai(message):
    text = reply(message).text

    assert re.search(r"\bAI\b", text)
    assert not re.match(r"(?i)(yes|i think so|i'd say yes)", text)


# --- the persona, however it is written -----------------------------------------------------------------


@pytest.mark.parametrize(("persona", "voice_name", "name"), PERSONAS)
def test_the_persona_name_is_found_however_the_persona_is_written(persona, voice_name, name):
    assert persona_profile(persona, voice_name=voice_name).name == name
    introductions = conversation(["Who are you?", "What's your name?", "Hello!"] * 2, persona=persona,
                                 voice_name=voice_name)
    assert any(name in text for text in introductions), introductions


@pytest.mark.parametrize(("voice_name", "spoken"), [
    ("Sam's voice", "Sam"), ("Sam’s Voice", "Sam"), ("Ada (demo)", "Ada"), ("Jo clone", "Jo"),
    ("Voice of Kim", "Kim"), ("Grandpa Joe", "Grandpa Joe"), ("My voice", None), ("voice", None), ("", None),
])
def test_voice_names_are_spoken_as_names(voice_name, spoken):
    assert spoken_voice_name(voice_name) == spoken


def test_it_never_calls_itself_someones_voice():
    offenders = [(voice, message, text) for _, voice, message, text in ALL_REPLIES
                 if re.search(r"(?i)\b\w+['’]s voice\b|\(v2\)|\(demo\)|\bclone\b(?<!voice clone)", text)]
    assert offenders == []


def test_it_speaks_without_a_name_when_there_is_none():
    texts = conversation(["Who are you?", "Hello!", "Hi, how are you?"], persona="Be kind.", voice_name="My voice")

    assert all("{" not in text and "None" not in text and "My voice" not in text for text in texts)


def test_role_and_interests_come_from_the_persona():
    profile = persona_profile(
        "Sam is a retired fisherman from Cornwall who tells tall tales. He loves storms and the sea.",
        voice_name="Sam's voice",
    )
    assert profile.role == "a retired fisherman from Cornwall"
    assert profile.interests == ("storms",)

    texts = conversation(["Hello!", "Who are you?", "Tell me about yourself", "Hi, how are you?"] * 3,
                         persona="Sam is a retired fisherman from Cornwall. He loves storms.", voice_name="Sam")
    assert any("retired fisherman from Cornwall" in text for text in texts)
    assert any("storms" in text for text in texts)


def test_a_short_spoken_persona_gets_short_replies():
    persona = "Sam is a retired fisherman. Speaks in short sentences."
    for text in conversation(MESSAGES, persona=persona, voice_name="Sam"):
        assert len(re.findall(r"[.!?]+(?:\s|$)", text)) <= 2, text


def test_the_tone_follows_the_persona():
    greetings = {
        tone: {t for t in conversation(["Hello!"] * 6, persona=persona, voice_name="X")}
        for tone, persona in {
            "gruff": "Sam, a grumpy old sailor.", "formal": "Jeeves, a formal butler.", "warm": "Ada, a warm baker.",
        }.items()
    }

    assert all(text.startswith("Aye, hello.") for text in greetings["gruff"])
    assert all(text.startswith("Good day.") for text in greetings["formal"])
    assert all(text.startswith("Hello!") for text in greetings["warm"])


# --- what the message does ------------------------------------------------------------------------------


@pytest.mark.parametrize(("message", "intent"), [
    ("Hello!", "greeting"), ("Good morning, Ada", "greeting"), ("Hi Ada, how are you?", "how_are_you"),
    ("Hello Ada, how is the bakery?", "how_is"), ("How are your roses doing?", "how_is"),
    ("Who are you?", "identity"), ("Tell me about yourself", "identity"), ("Are you a real person?", "ai_check"),
    ("Tell me a short story", "story"), ("please tell me about your town", "request"),
    ("Tell me a joke", "joke"), ("What do you think about rye bread?", "opinion"),
    ("Do you like dogs?", "preference"), ("How do I shape a bloomer loaf?", "advice"),
    ("Can you tell me about the sea?", "request"), ("Why is the sky blue?", "question"),
    ("Is it going to rain tomorrow?", "yes_no"), ("can you recommend a flour", "request"),
    ("I'm so tired today", "feeling_low"), ("I got the job! I'm so happy", "feeling_high"),
    ("Thanks, that helps a lot", "thanks"), ("bye for now", "farewell"), ("yes", "agree"), ("nope", "disagree"),
    ("Good point, I hadn't thought of that", "statement"), ("I burnt my croissants again", "statement"),
    ("", "empty"), ("?!", "empty"), ("🙂", "empty"),
])
def test_message_intents(message, intent):
    # The persona's own name is not content: "Hi Ada" is just a greeting.
    assert message_intent(message, ignore=frozenset({"ada"})) == intent


def test_questions_are_answered_as_questions():
    questions = ["What's the best way to keep a sourdough starter alive?", "Why is the sky blue?",
                 "Is it going to rain tomorrow?", "How do I shape a bloomer loaf?", "Do you like dogs?",
                 "What do you think about rye bread?", "Where should I go on holiday?"]
    statement_openers = re.compile(r"(?i)^(you said|tell me more|go on|i see\b|that's interesting|really\?|mm,)")
    for persona, voice, _ in PERSONAS:
        for question in questions:
            text = reply(question, persona=persona, voice_name=voice).text
            assert not statement_openers.match(text), (question, text)
            assert message_intent(question) not in (STATEMENT,)


@pytest.mark.parametrize("message", [
    "Hello!", "Hi Ada, how are you?", "Who are you?", "Thanks!", "bye", "I'm sad", "Tell me a joke",
])
def test_greetings_and_small_talk_get_an_answer_in_kind(message):
    text = reply(message).text
    expected = {
        "Hello!": r"^Hello!", "Hi Ada, how are you?": r"(?i)^(Hi|Hello|Hey)!.*\b(well|can't complain|not bad)\b",
        "Who are you?": r"\bAda\b", "Thanks!": r"(?i)welcome|pleasure|any time", "bye": r"(?i)bye|take care",
        "I'm sad": r"(?i)sorry|hard|listen", "Tell me a joke": r"\?.+!$",
    }[message]
    assert re.search(expected, text), text


@pytest.mark.parametrize("message", ["", "   ", "...", "🙂", "[emulated transcript]"])
def test_silence_asks_to_repeat(message):
    assert re.search(r"didn't quite catch|missed what you said", reply(message).text)


# --- no echoes: transcript tags and fragments -----------------------------------------------------------


def test_transcript_tags_are_never_echoed():
    hashes = [f"{n:08x}" + "0" * 56 for n in range(16)]
    for (persona, voice, _), digest in itertools.product(PERSONAS, hashes):
        message = placeholder_text(digest)
        text = reply(message, persona=persona, voice_name=voice).text
        assert "[" not in text and "]" not in text
        assert "emulated" not in text.lower() and "transcript" not in text.lower()
    assert clean_user_text("[emulated transcript]  Thanks, that is very helpful.") == "Thanks, that is very helpful."


def test_a_request_for_a_story_tells_one_instead_of_echoing_it():
    text = reply("Tell me a short story", persona="Sam is a retired fisherman.", voice_name="Sam's voice").text

    assert "short story" not in text.lower()
    assert re.search(r"(?i)once|story, then|here's a short one", text)


@pytest.mark.parametrize(("message", "topic"), [
    ("What's the best way to keep a sourdough starter alive?", "a sourdough starter"),
    ("How do I shape a bloomer loaf?", "a bloomer loaf"),
    ("I went hiking in the Yorkshire Dales yesterday", "the Yorkshire Dales"),
    ("My grandmother used to make parkin", "your grandmother"),
    ("I burnt my croissants again", "your croissants"),
    ("Ada, what do you think about rye bread?", "rye bread"),
    ("Tell me a short story", "a short story"),
    ("It is what it is", None),
    ("I like to swim", None),
    ("ok", None),
])
def test_topics_are_whole_noun_phrases(message, topic):
    assert topic_of(message, ignore=frozenset({"ada"})) == topic


def test_replies_quote_only_whole_phrases_never_fragments():
    for persona, voice, message, text in ALL_REPLIES:
        if message_intent(clean_user_text(message)) in ("farewell", "greeting", "thanks"):
            continue  # "bye for now" → "Goodbye for now!" is answering in kind, not echoing
        topic = topic_of(clean_user_text(message), ignore=frozenset(persona_profile(persona, voice_name=voice)
                                                                   .name.lower().split()))
        # Whatever of the message appears in the reply is the topic phrase, never a longer run of it.
        words = re.findall(r"[\w']+", clean_user_text(message).lower())
        for size in range(3, len(words) + 1):
            for start in range(len(words) - size + 1):
                run = " ".join(words[start:start + size])
                if set(words[start:start + size]) <= FUNCTION_WORDS:
                    continue  # "what do you": everyday words, not the user's sentence
                if run in text.lower():
                    core = words[start:start + size]
                    while core and core[0] in FUNCTION_WORDS:
                        core = core[1:]
                    while core and core[-1] in FUNCTION_WORDS:
                        core = core[:-1]
                    assert topic and " ".join(core) in topic.lower(), (message, text, run)
        assert not re.match(r"(?i)mm, ", text), text


# --- variety, determinism, shape ------------------------------------------------------------------------


def test_replies_vary_turn_by_turn_and_never_repeat_the_last_one():
    texts = conversation(["Hello!"] * 5 + ["Tell me more."] * 6 + ["The weather is lovely today"] * 6)

    assert len(set(texts[:5])) >= 4
    assert len(set(texts[5:11])) >= 4
    assert len(set(texts[11:])) >= 4
    assert all(a != b for a, b in itertools.pairwise(texts))


def test_the_same_message_varies_between_conversations():
    openings = [["Hello!"], ["Hi there"], ["Good morning"], ["Hey you"], ["Hello again"], ["Hiya"]]
    texts = {
        conversation([*opening, "The weather is lovely today"])[-1] for opening in openings
    }
    assert len(texts) >= 3


def test_offline_reply_is_deterministic():
    history = [Turn("user", "Hi"), Turn("assistant", "Hello!")]

    assert reply("What's new?", history=history) == reply("What's new?", history=history)


def test_offline_reply_is_the_same_in_every_process():
    # str hashes are salted per process; two workers must still agree on the reply.
    code = (
        "from voiceclone.replies import OfflineEngine, ReplyRequest, Turn;"
        f"print(OfflineEngine().reply(ReplyRequest(persona={ADA!r}, voice_name='Ada',"
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


def test_every_reply_is_short_and_speakable():
    long_persona = "You are Maximilian Alexander Beaumont, " + "a very " * 30 + "long-winded narrator."
    cases = [*ALL_REPLIES, *[(long_persona, "Max", m, reply(m, persona=long_persona, voice_name="Max").text)
                             for m in [*MESSAGES, "I " + "really " * 100 + "extraordinarilylongword", "Why? " * 80]]]
    for _, _, message, text in cases:
        assert 0 < len(text) <= 300, (message, text)
        assert 1 <= len(re.findall(r"[.!?]+(?:\s|$)", text)) <= 3, (message, text)
        assert not re.search(r"[*_#`\[\]<>{}]", text), (message, text)
        assert "None" not in text, (message, text)
        assert not any(unicodedata.category(char) == "So" for char in text), (message, text)


def test_question_kinds_are_told_apart():
    assert message_intent("Why is the sky blue?") == QUESTION
    assert message_intent("Is it going to rain?") == YES_NO


# --- issue 12, re-checked by hand: twenty varied messages with two personas -------------------------------


@pytest.mark.parametrize(("message", "intent"), [
    ("I disagree, I think you're wrong.", "disagree"), ("That's not true at all", "disagree"),
    ("I agree with you completely", "agree"), ("I had a rough day at work.", "feeling_low"),
    ("Hello Ada! What are you up to today?", "how_are_you"), ("What's your favourite food?", "favourite"),
])
def test_longer_messages_that_agree_disagree_or_share_a_bad_day(message, intent):
    assert message_intent(message, ignore=frozenset({"ada"})) == intent


@pytest.mark.parametrize(("message", "topic"), [
    ("I went hiking in the Yorkshire Dales last weekend", "the Yorkshire Dales"),
    ("What should I read next?", None),
    ("Can you give me some advice on learning to cook?", None),
])
def test_time_words_and_asking_words_end_or_make_no_topic(message, topic):
    assert topic_of(message) == topic


def test_a_favourite_is_answered_as_one_and_a_story_is_about_what_was_asked():
    for persona, voice, _ in PERSONAS:
        favourite = reply("What's your favourite food?", persona=persona, voice_name=voice).text
        assert "favourite" in favourite and "food" in favourite, favourite
        assert not favourite.startswith("I do, yes"), favourite
        story = reply("Tell me a story about the sea.", persona=persona, voice_name=voice).text
        assert "the sea" in story, story


def test_why_questions_do_not_quote_the_clause():
    for persona, voice, _ in PERSONAS:
        text = reply("Why is the sky blue?", persona=persona, voice_name=voice).text
        assert "sky blue" not in text, text
