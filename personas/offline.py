"""Deterministic persona drafts and conversation summaries for when no language model is configured.

They are not a model's writing and say so (`OFFLINE_NOTE`): a draft keeps the persona as it is and
adds a section of guidance measured from the conversations (what people talk about, how they write,
how often they ask); a summary lists the conversation's topics, what the user said about themselves
and what they asked. The same conversations always give the same text: no randomness, no clock.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

OFFLINE_NOTE = "Offline draft — no language model configured; written from conversation statistics."
OFFLINE_SUMMARY_NOTE = "offline summary"
# The section an offline draft adds; a later offline draft replaces it instead of adding a second one.
SECTION_HEADING = "What conversations show"

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_FIRST_PERSON = re.compile(r"^\s*(?:i|i'm|i’m|i've|i’ve|my|we|our|i'd|i’d)\b", re.IGNORECASE)
_STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't
    down during each even ever few for from further get gets got had has have having he her here hers him
    his how i i'd i'll i'm i've if in into is isn't it it's its just know let like lot make me might more
    most much must my no nor not now of off on once one only or other our ours out over own quite rather
    really said same say see shall she should so some something such tell than that that's the their them
    then there these they thing things think this those though through to too under until up us very want
    was wasn't way we we're well were what what's when where which while who why will with won't would
    yeah yes yet you you're your yours hi hello hey thanks thank please okay ok good great sure maybe
    today tomorrow yesterday time right going went come came take took give gave look feel felt still back
    anything everything nothing always never sometimes actually probably pretty kind sort lovely nice
    """.split()
)


@dataclass(frozen=True)
class Line:
    role: str  # "user" or "assistant"
    text: str


@dataclass(frozen=True)
class ConversationStats:
    conversations: int
    user_messages: int
    assistant_messages: int
    question_share: float
    mean_user_words: float
    mean_assistant_words: float
    greeting_share: float
    topics: tuple[str, ...]

    def as_dict(self) -> dict:
        return {
            "conversations": self.conversations,
            "user_messages": self.user_messages,
            "assistant_messages": self.assistant_messages,
            "question_share": round(self.question_share, 3),
            "mean_user_words": round(self.mean_user_words, 1),
            "mean_assistant_words": round(self.mean_assistant_words, 1),
            "greeting_share": round(self.greeting_share, 3),
            "topics": list(self.topics),
        }


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def topics(texts: Sequence[str], *, ignore: frozenset[str] = frozenset(), limit: int = 6) -> tuple[str, ...]:
    """The content words said most often (at least twice), most frequent first, ties alphabetical."""
    counts = Counter()
    for text in texts:
        for word in words(text):
            plain = word.lower().replace("’", "'")
            if len(plain) >= 4 and plain not in _STOP_WORDS and plain not in ignore:
                counts[plain] += 1
    ranked = sorted(((n, w) for w, n in counts.items() if n >= 2), key=lambda item: (-item[0], item[1]))
    return tuple(word for _n, word in ranked[:limit])


def _is_question(text: str) -> bool:
    return "?" in text


def _is_greeting(text: str) -> bool:
    first = (words(text)[:1] or [""])[0].lower()
    return first in {"hi", "hello", "hey", "hiya", "morning", "evening", "good"}


def conversation_stats(conversations: Sequence[Sequence[Line]], *, ignore: frozenset[str] = frozenset()) -> ConversationStats:
    user = [line.text for conv in conversations for line in conv if line.role == "user" and line.text.strip()]
    assistant = [line.text for conv in conversations for line in conv if line.role == "assistant" and line.text.strip()]
    openers = [next((line.text for line in conv if line.role == "user" and line.text.strip()), "") for conv in conversations]
    started = [o for o in openers if o]
    return ConversationStats(
        conversations=len(conversations),
        user_messages=len(user),
        assistant_messages=len(assistant),
        question_share=(sum(map(_is_question, user)) / len(user)) if user else 0.0,
        mean_user_words=(sum(len(words(t)) for t in user) / len(user)) if user else 0.0,
        mean_assistant_words=(sum(len(words(t)) for t in assistant) / len(assistant)) if assistant else 0.0,
        greeting_share=(sum(map(_is_greeting, started)) / len(started)) if started else 0.0,
        topics=topics(user, ignore=ignore),
    )


def _strip_section(persona: str) -> str:
    """The persona without an earlier offline draft's section (so drafts never pile up)."""
    marker = f"\n\n{SECTION_HEADING}"
    index = persona.find(marker)
    return persona[:index].rstrip() if index >= 0 else persona.rstrip()


def draft_persona(persona: str, stats: ConversationStats, *, max_chars: int) -> tuple[str, str]:
    """(draft text, notes): the persona plus guidance measured from the conversations."""
    base = _strip_section(persona)
    if stats.user_messages == 0:
        return base, "No conversation has a user message yet, so there is nothing to learn from; the draft keeps the persona."
    guidance = []
    if stats.topics:
        guidance.append(
            f"- People talk with you most about {_join(stats.topics)}. Be ready to talk about these in your "
            "own voice and with your own experiences."
        )
    if stats.question_share >= 0.4:
        guidance.append(
            f"- {round(stats.question_share * 100)}% of messages are questions: answer each one directly "
            "first, then add one thought of your own."
        )
    elif stats.question_share <= 0.15:
        guidance.append(
            "- People mostly tell you things rather than ask: react to what they said and ask one short "
            "question back to keep them talking."
        )
    if stats.mean_user_words and stats.mean_user_words < 8:
        guidance.append(
            f"- Messages are short (about {round(stats.mean_user_words)} words): keep replies to one or two "
            "short spoken sentences."
        )
    elif stats.mean_user_words >= 25:
        guidance.append(
            f"- Messages are long (about {round(stats.mean_user_words)} words): take up the main point of "
            "each and answer it in two or three sentences."
        )
    if stats.greeting_share >= 0.5:
        guidance.append("- Most conversations open with a greeting: greet back warmly and by name when you know it.")
    if stats.mean_assistant_words > 45:
        guidance.append("- Replies have been long for speech: say less, in plainer words.")
    if not guidance:
        guidance.append("- Conversations so far show no clear pattern; keep to the persona above.")
    section = (
        f"\n\n{SECTION_HEADING} ({stats.conversations} recent conversation"
        f"{'s' if stats.conversations != 1 else ''}, {stats.user_messages} user message"
        f"{'s' if stats.user_messages != 1 else ''}):\n" + "\n".join(guidance)
    )
    text = base + section
    if len(text) > max_chars:
        text = text[:max_chars].rsplit("\n", 1)[0]
    notes = (
        f"{OFFLINE_NOTE} Read {stats.conversations} conversations ({stats.user_messages} user and "
        f"{stats.assistant_messages} reply messages); topics: {_join(stats.topics) or 'none repeated'}."
    )
    return text, notes


def summarise(lines: Sequence[Line], *, previous: str = "", max_chars: int, first_number: int = 1) -> str:
    """A deterministic memory of `lines` (and the previous memory), at most `max_chars` characters."""
    user = [line.text.strip() for line in lines if line.role == "user" and line.text.strip()]
    facts, questions = [], []
    for text in user:
        for sentence in (s.strip() for s in _SENTENCE.findall(text)):
            if len(words(sentence)) < 3:
                continue
            if sentence.endswith("?"):
                questions.append(sentence)
            elif _FIRST_PERSON.match(sentence):
                facts.append(sentence)
    parts = []
    last = first_number + len(lines) - 1
    header = f"Earlier messages {first_number}–{last} ({OFFLINE_SUMMARY_NOTE})."
    previous_lines = [line for line in previous.splitlines() if line.startswith("- ")] if previous else []
    found_topics = topics(user + [line[2:] for line in previous_lines if line.startswith("- Topics:")])
    if found_topics:
        parts.append(f"- Topics: {', '.join(found_topics)}.")
    kept_facts = [line for line in previous_lines if line.startswith("- The user said:")]
    kept_facts += [f"- The user said: {_shorten(s)}" for s in _unique(facts)]
    parts.extend(kept_facts[-6:])
    asked = [f"- The user asked: {_shorten(q)}" for q in _unique(questions)]
    parts.extend(asked[-3:])
    text = "\n".join([header, *parts])
    while len(text) > max_chars and parts:
        parts.pop(1 if len(parts) > 1 else 0)
        text = "\n".join([header, *parts])
    return text[:max_chars]


def _unique(items: Sequence[str]) -> list[str]:
    seen, out = set(), []
    for item in items:
        key = item.lower()
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _shorten(sentence: str, limit: int = 140) -> str:
    sentence = " ".join(sentence.split())
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rsplit(" ", 1)[0] + "…"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
