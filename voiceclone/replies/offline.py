"""A deterministic stand-in for a language model, used when LLM_BASE_URL is unset.

It keeps a fresh checkout, the demo and the test suite working without network
access or keys. It is not a model and does not pretend to be one: every result
carries engine="offline" and is_offline=True, and the UI shows
OFFLINE_ENGINE_LABEL next to the reply. Replies are in character (the persona's
name and role), react to the kind of message (question, greeting, thanks,
statement, nothing heard) and echo a key phrase of it, so a conversation with
the clone still feels like one. The same persona and message always give the
same reply: no randomness, no clock. Templates are English whatever the
conversation language, since translating them needs a model.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .types import ENGINE_OFFLINE, ReplyRequest, ReplyResult

MAX_REPLY_CHARS = 300
_MAX_PHRASE_WORDS = 2
_MAX_WORD_CHARS = 24
_MAX_ROLE_WORDS = 8
_MAX_ROLE_CHARS = 70

KIND_EMPTY = "empty"
KIND_GREETING = "greeting"
KIND_QUESTION = "question"
KIND_THANKS = "thanks"
KIND_STATEMENT = "statement"

# Templates use {name}, {role} ("a cheerful baker from Leeds"), {phrase} (the
# user's key words) and {Phrase} (the same, capitalised). A template is only a
# candidate when every field it uses has a value.
_TEMPLATES: dict[str, tuple[str, ...]] = {
    KIND_GREETING: (
        "Hello there! It's {name}. What's on your mind today?",
        "Hi! {name} here, {role}. Lovely to hear from you.",
        "Hey, good to hear from you! It's {name}. How are things with you?",
        "Hello! {name} speaking. What shall we talk about?",
    ),
    KIND_QUESTION: (
        "You're asking about {phrase}. That's a good one, and I'd love to talk it through with you.",
        "{Phrase}? Now that's a question {name} enjoys. What got you thinking about it?",
        "Good question about {phrase}. Speaking as {role}, I'd say it depends. What's your take?",
        "Ah, {phrase}. Let me think about that one. What would you guess yourself?",
        "That's a good question. What made you wonder about it?",
        "Hmm, let me think. What do you reckon yourself?",
    ),
    KIND_THANKS: (
        "You're very welcome! Anything else on your mind?",
        "My pleasure, truly. {name} is always happy to chat.",
        "Any time! Is there anything else you'd like to talk about?",
    ),
    KIND_STATEMENT: (
        "{Phrase}, you say? Tell me more about that.",
        "You said {phrase}. How do you feel about that?",
        "{Phrase}, that's interesting. As {role}, I'd love to hear a bit more.",
        "Mm, {phrase}. Go on, {name} is listening.",
        "I see. Tell me a little more.",
        "Go on, I'm listening.",
    ),
    KIND_EMPTY: (
        "Sorry, I didn't quite catch that. Could you say it again?",
        "It's {name} here, but I missed what you said. Could you try once more?",
    ),
}

_STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each even ever few for from further get gets getting got had
    hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself him
    himself his how how's however i i'd i'll i'm i've if in into is isn't it it's its itself
    just know let let's like lot make me might more most much must mustn't my myself need no nor
    not now of off on once one only or other ought our ours ourselves out over own quite rather
    really said same say says see shall shan't she she'd she'll she's should shouldn't so some
    something such tell than that that's the their theirs them themselves then there there's
    these they they'd they'll they're they've thing things think this those though through to
    too under until up upon us very want was wasn't way we we'd we'll we're we've well were
    weren't what what's when when's where where's whether which while who who's whom why why's
    will with won't would wouldn't yeah yes yet you you'd you'll you're you've your yours
    yourself yourselves
    hi hello hey hiya howdy greetings good morning afternoon evening thanks thank cheers please ok
    okay
    go goes going went gone come comes coming came take took give gave put use used try tried
    trying look looking feel felt seem seems able maybe sure kind sort actually probably pretty
    still back anything everything nothing someone anyone everyone always never sometimes
    """.split()
)
_GREETING_WORDS = frozenset(
    "hi hello hey hiya howdy greetings yo heya hallo hola bonjour morning afternoon evening".split()
)
# "Good morning" greets; "Good point" does not.
_GOOD_GREETING_TIMES = frozenset("morning afternoon evening day".split())
_QUESTION_OPENERS = frozenset(
    """
    what what's why how how's when where where's who who's which whose can could would will do
    does did is are was were should shall may might have has am isn't aren't don't doesn't
    didn't won't wouldn't can't couldn't shouldn't
    """.split()
)
_THANKS = re.compile(r"\b(?:thanks|thank you|thank u|thx|cheers|much appreciated|appreciate it)\b")
_DETERMINERS = frozenset("a an the this that these those some my our your".split())
_DETERMINER_BONUS = 3
# The user's "my cat" is "your cat" in the clone's mouth, and the other way round.
_POSSESSIVE_SWAP = {"my": "your", "our": "your", "your": "my"}
_FIELD = re.compile(r"\{(\w+)\}")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")

# Spaces only between name words: "You are Ada\nYou bake" must not give "Ada You".
_NAME = r"(?P<name>[A-Z][\w'’-]*(?:[ \t]+[A-Z][\w'’-]*){0,2})"
_PERSONA_NAME_PATTERNS = (
    re.compile(r"(?i:\b(?:you are|you're|your name is|i am|i'm|my name is))\s+" + _NAME),
    re.compile(r"(?i:\b(?:named|called)|\bname\s*:)\s*" + _NAME),
)
_ROLE = r"(?P<role>(?:a|an|the)\s+[^.,;:!?\n]+)"
_PERSONA_ROLE_PATTERNS = (
    # "You are Ada, a cheerful baker from Leeds."
    re.compile(
        r"(?i:\b(?:you are|you're|i am|i'm))\s+[A-Z][\w'’-]*(?:[ \t]+[A-Z][\w'’-]*){0,2}"
        r"[ \t]*,[ \t]*(?i:" + _ROLE + ")"
    ),
    # "You are a cheerful baker from Leeds named Ada."
    re.compile(r"(?i:\b(?:you are|you're|i am|i'm)\s+" + _ROLE + ")"),
)
_TRAILING_NAMING = re.compile(r"\s+(?:named|called|who|that|with|and)\b.*$", re.IGNORECASE)
# Capitalised words a name pattern can catch that are not names.
_NOT_NAMES = frozenset({"A", "An", "The", "Not", "Very", "Always", "Here", "Now", "So", "Just"})


@dataclass(frozen=True)
class PersonaCues:
    name: str
    role: str | None


def persona_cues(persona: str, *, voice_name: str) -> PersonaCues:
    """Name and role from the persona text, falling back to the voice's name."""
    name = _persona_name(persona) or voice_name.strip() or "your voice"
    return PersonaCues(name=name, role=_persona_role(persona))


def _persona_name(persona: str) -> str | None:
    for pattern in _PERSONA_NAME_PATTERNS:
        for match in pattern.finditer(persona):
            words = match.group("name").split()
            while words and words[-1] in _NOT_NAMES:
                words.pop()
            if words and words[0] not in _NOT_NAMES:
                return " ".join(words)
    return None


def _persona_role(persona: str) -> str | None:
    for pattern in _PERSONA_ROLE_PATTERNS:
        match = pattern.search(persona)
        if not match:
            continue
        role = _TRAILING_NAMING.sub("", match.group("role")).strip()
        words = role.split()
        if len(words) < 2 or len(words) > _MAX_ROLE_WORDS or len(role) > _MAX_ROLE_CHARS:
            continue
        # Persona text is written to the model ("You are a baker"); the reply is
        # spoken by the character, so "your" would point at the listener.
        return " ".join("my" if word.lower() == "your" else word for word in words)
    return None


def message_kind(text: str, *, ignore: frozenset[str] = frozenset()) -> str:
    """empty, greeting, question, thanks or statement. `ignore`: lower-case words that carry
    no content here, such as the persona's own name ("Hi Ada!" is a plain greeting)."""
    words = [word.lower() for word in _WORD.findall(text)]
    if not words:
        return KIND_EMPTY
    is_greeting = words[0] in _GREETING_WORDS or (
        words[0] == "good" and len(words) > 1 and words[1] in _GOOD_GREETING_TIMES
    )
    if is_greeting and not _content_words(text, ignore=ignore):
        # "Hello!", "Hi, how are you?": nothing to answer but the greeting.
        return KIND_GREETING
    if "?" in text or words[0] in _QUESTION_OPENERS:
        return KIND_QUESTION
    if _THANKS.search(text.lower()):
        return KIND_THANKS
    if is_greeting:
        return KIND_GREETING if len(words) <= 3 else KIND_STATEMENT
    return KIND_STATEMENT


def _content_words(text: str, *, ignore: frozenset[str]) -> list[tuple[int, str]]:
    """(position among all words, word) for each word worth echoing back."""
    found = []
    for position, word in enumerate(_WORD.findall(text)):
        plain = word.replace("’", "'").lower()
        if len(plain) < 3 or plain in _STOP_WORDS or plain in ignore or len(word) > _MAX_WORD_CHARS:
            continue
        found.append((position, word))
    return found


def key_phrase(text: str, *, ignore: frozenset[str] = frozenset()) -> str | None:
    """The longest content words of the message, as the user said them.

    Candidates are single content words and pairs of adjacent ones, so the echo is
    a phrase the user actually said ("sourdough starter") rather than two long
    words from opposite ends of the sentence. Words right after a determiner
    ("a picnic", "my grandmother") get a small bonus because they are usually the
    thing being talked about, and a possessive comes along, turned round to the
    speaker's side ("your grandmother"). Longest wins; among equals the earlier
    one, so the choice is stable.
    """
    tokens = _WORD.findall(text)
    words = _content_words(text, ignore=ignore)
    if not words:
        return None

    def score(window: list[tuple[int, str]]) -> tuple[int, int]:
        start = window[0][0]
        before = tokens[start - 1].lower() if start else ""
        bonus = _DETERMINER_BONUS if before in _DETERMINERS else 0
        return (-(sum(len(word) for _, word in window) + bonus), start)

    candidates = []
    for index, (position, _word) in enumerate(words):
        for size in range(1, _MAX_PHRASE_WORDS + 1):
            window = words[index : index + size]
            if len(window) < size or window[-1][0] - position != size - 1:
                break
            candidates.append(window)
    best = min(candidates, key=score)
    phrase = " ".join(_spoken_case(position, word) for position, word in best)
    start = best[0][0]
    possessive = _POSSESSIVE_SWAP.get(tokens[start - 1].lower()) if start else None
    return f"{possessive} {phrase}" if possessive else phrase


def _spoken_case(position: int, word: str) -> str:
    # The first word is capitalised only because it starts the sentence;
    # names and acronyms further in keep their case.
    if position == 0 and not word.isupper():
        return word.lower()
    return word


def _stable_index(persona: str, message: str, count: int) -> int:
    # hashlib, not hash(): str hashes are salted per process (PYTHONHASHSEED),
    # and the same turn must get the same reply in every worker.
    digest = hashlib.sha256(f"{persona}\x1f{message}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def _fit(text: str) -> str:
    if len(text) <= MAX_REPLY_CHARS:
        return text
    cut = text[:MAX_REPLY_CHARS]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > 0 else cut.rsplit(" ", 1)[0] + "."


class OfflineEngine:
    """Answers in character from templates; see the module docstring. Never raises for input."""

    name = ENGINE_OFFLINE

    def reply(self, request: ReplyRequest) -> ReplyResult:
        message = " ".join(request.latest_user_text.split())
        cues = persona_cues(request.persona, voice_name=request.voice_name)
        name_words = frozenset(word.lower() for word in _WORD.findall(cues.name))
        kind = message_kind(message, ignore=name_words)
        phrase = (
            key_phrase(message, ignore=name_words)
            if kind in (KIND_QUESTION, KIND_STATEMENT)
            else None
        )
        fields = {
            "name": cues.name,
            "role": cues.role,
            "phrase": phrase,
            "Phrase": phrase[:1].upper() + phrase[1:] if phrase else None,
        }
        candidates = [
            template
            for template in _TEMPLATES[kind]
            if all(fields[key] for key in _FIELD.findall(template))
            # Echo the user's words whenever there is something to echo.
            and (phrase is None or "{phrase}" in template.lower())
        ]
        template = candidates[_stable_index(request.persona, message, len(candidates))]
        text = _fit(template.format(**{key: value or "" for key, value in fields.items()}))
        return ReplyResult(text=text, engine=self.name, model=None, is_offline=True, usage=None)
