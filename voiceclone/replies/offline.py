"""The offline responder: a deterministic stand-in for a language model, used when LLM_BASE_URL is unset.

It keeps a fresh checkout, the demo and the test suite conversing without network access or keys. It is
not a model and does not pretend to be one: every result carries engine="offline" and is_offline=True,
and the UI shows OFFLINE_ENGINE_LABEL next to each reply.

What it does, so a conversation still feels like one:
- It reads the persona however it is written ("You are Ada, …", "Sam is a retired fisherman…",
  "Name: Jo. Personality: gruff…", or only the voice's name) for a name, a role, interests and a tone
  (warm, gruff, formal, playful, calm; "short sentences" keeps replies short). It never calls itself
  "<name>'s voice": a voice named "Sam's voice" speaks as Sam.
- It recognises what the message does (greets, asks how it is or how something of its is, asks who it
  is, asks a question, asks for advice, a story or a joke, shares a feeling, thanks, says goodbye…) and
  answers that: a question gets an answer-shaped reply, never "You said …".
- It names the topic only when it finds a clean noun phrase ("about sourdough starters", "my
  grandmother" → "your grandmother"), never a fragment of the sentence.
- Transcript tags such as the emulator's "[emulated transcript]" are removed before anything else.
- Replies vary from turn to turn and between conversations, deterministically: the choice hashes the
  persona and the whole conversation so far (hashlib, not hash(): the same turn gives the same reply in
  every worker), and skips wordings used in the last few replies. No randomness, no clock.

Templates are English whatever the conversation language, since translating them needs a model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .types import ENGINE_OFFLINE, ReplyRequest, ReplyResult, Turn

MAX_REPLY_CHARS = 300
RECENT_REPLIES_AVOIDED = 4

# --- the user's words ---------------------------------------------------------------------------------

# "[emulated transcript]", "[inaudible]", "[laughs]": markup from a transcriber, not words anyone said.
_TRANSCRIPT_TAG = re.compile(r"\[[^\[\]\n]{1,40}\]")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


def clean_user_text(text: str) -> str:
    """The message without transcript tags, on one line."""
    return " ".join(_TRANSCRIPT_TAG.sub(" ", text or "").split())


def _words(text: str) -> list[str]:
    return [w.replace("’", "'").lower() for w in _WORD.findall(text)]


# --- the persona ---------------------------------------------------------------------------------------

TONE_WARM, TONE_GRUFF, TONE_FORMAL, TONE_PLAYFUL, TONE_CALM = "warm", "gruff", "formal", "playful", "calm"
_TONE_WORDS = {
    TONE_GRUFF: "grumpy gruff blunt sarcastic grouchy curmudgeonly stern cranky surly",
    TONE_FORMAL: "formal polite proper dignified professional courteous refined posh",
    TONE_PLAYFUL: "playful witty funny cheeky mischievous energetic enthusiastic bubbly silly jolly",
    TONE_CALM: "calm patient gentle wise thoughtful quiet serene soft-spoken softly slowly",
    TONE_WARM: "warm cheerful friendly kind caring curious sweet lovely kindly warmly",
}
_TONE_OF = {word: tone for tone, words in _TONE_WORDS.items() for word in words.split()}
_SHORT_STYLE = re.compile(
    r"\bshort(?:,?\s+\w+)?\s+(?:sentences|answers|replies)\b|\b(?:brief|briefly|concise|terse|few words)\b", re.I
)

_NAME = r"(?P<name>[A-Z][\w'’-]*(?:[ \t]+[A-Z][\w'’-]*){0,2})"
_NAME_PATTERNS = (
    re.compile(r"(?i:\b(?:you are|you're|your name is|i am|i'm|my name is|this is))\s+" + _NAME),
    re.compile(r"(?i:\b(?:named|called)|\bname\s*:)\s*" + _NAME),
    # "Sam is a retired fisherman", "Ada, a cheerful baker": a name opening a sentence.
    re.compile(r"(?:^|[.!?]\s+)" + _NAME + r"(?:\s+(?:is|was)\s+|,\s*)(?i:a|an|the)\b"),
)
_ROLE_TEXT = r"(?P<role>(?i:a|an|the)\s+[^.,;:!?\n]+)"
_ROLE_PATTERNS = (
    # "A formal butler named Jeeves"
    re.compile(r"(?:^|[.!?]\s+)(?P<role>(?i:a|an|the)\s+[^.,;:!?\n]+?)\s+(?i:named|called)\b"),
    re.compile(r"[A-Z][\w'’-]*(?:[ \t]+[A-Z][\w'’-]*){0,2}\s*,\s*" + _ROLE_TEXT),
    re.compile(r"(?i:\b(?:you are|you're|i am|i'm|is|was))\s+" + _ROLE_TEXT),
    re.compile(r"(?i:\brole\s*:)\s*(?P<role>[^.;\n]+)"),
)
_ROLE_CUT = re.compile(r"\s+(?:who|that|which|whose|named|called|with|and you|but)\b.*$", re.I)
_INTEREST = re.compile(
    r"(?i:\b(?:loves?|adores?|likes?|enjoys?|passionate about|is into|interested in|fond of|obsessed with"
    r"|talks? about|knows? (?:a lot|everything) about))\s+(?P<what>[^.,;:!?\n]+)"
)
_INTEREST_CUT = re.compile(r"\s+(?:and|but|or|who|which|because|so|when|while|in short)\b.*$", re.I)
_INTEREST_LEAD = re.compile(r"^(?:explaining|talking about|discussing|telling people about|sharing|to talk about"
                            r"|to explain|telling|talking)\s+", re.I)
_NOT_NAMES = frozenset("A An The Not Very Always Here Now So Just You Your He She They It This That Speak Keep "
                       "Be Use Reply Answer Talk Never Please Personality Style Role Name".split())
_VOICE_NAME_NOISE = re.compile(r"\s*\([^)]*\)|\s*\[[^\]]*\]")
_VOICE_NAME_SUFFIX = re.compile(r"(?:['’]s|s['’])?\s+(?:voice|clone|ai|bot)$|^(?:voice|clone) of\s+", re.I)


@dataclass(frozen=True)
class Persona:
    """What the offline responder can use of a persona text and the voice's name."""

    name: str | None
    role: str | None = None
    interests: tuple[str, ...] = ()
    tone: str = TONE_WARM
    short: bool = False
    traits: tuple[str, ...] = field(default=())


def persona_profile(persona: str, *, voice_name: str = "") -> Persona:
    """Name, role, interests, tone and length from the persona; the name falls back to the voice's name
    without "'s voice", "(demo)" and the like."""
    persona = persona or ""
    traits = tuple(dict.fromkeys(w for w in _words(persona) if w in _TONE_OF))
    return Persona(
        name=_persona_name(persona) or spoken_voice_name(voice_name),
        role=_persona_role(persona),
        interests=_persona_interests(persona),
        tone=_TONE_OF[traits[0]] if traits else TONE_WARM,
        short=bool(_SHORT_STYLE.search(persona)),
        traits=traits,
    )


def spoken_voice_name(voice_name: str) -> str | None:
    """"Sam's voice" → "Sam", "Ada (demo)" → "Ada", "Voice of Jo" → "Jo"; None when nothing is left."""
    name = _VOICE_NAME_NOISE.sub("", voice_name or "").strip()
    previous = None
    while previous != name:
        previous, name = name, _VOICE_NAME_SUFFIX.sub("", name).strip()
    if name.lower() in ("", "voice", "clone", "ai", "bot", "my", "our", "your", "the", "a", "an", "new"):
        return None
    return name


def _persona_name(persona: str) -> str | None:
    for pattern in _NAME_PATTERNS:
        for match in pattern.finditer(persona):
            words = match.group("name").split()
            while words and words[-1] in _NOT_NAMES:
                words.pop()
            if words and words[0] not in _NOT_NAMES:
                return " ".join(words)
    return None


def _persona_role(persona: str) -> str | None:
    for pattern in _ROLE_PATTERNS:
        for match in pattern.finditer(persona):
            role = _ROLE_CUT.sub("", match.group("role").strip()).strip()
            words = role.split()
            if not 2 <= len(words) <= 8 or len(role) > 70:
                continue
            if words[0].lower() in ("a", "an", "the"):
                words[0] = words[0].lower()  # "A formal butler" opens the persona, not the reply
            # Written to the model ("you are a baker who loves your town"); spoken by the character.
            return " ".join("my" if w.lower() == "your" else w for w in words)
    return None


def _persona_interests(persona: str) -> tuple[str, ...]:
    found = []
    for match in _INTEREST.finditer(persona):
        what = _INTEREST_LEAD.sub("", _INTEREST_CUT.sub("", match.group("what").strip())).strip()
        words = what.split()
        if 1 <= len(words) <= 6 and not re.match(r"(?i)(?:to|it|that|this|them|him|her)\b", what):
            found.append(" ".join("my" if w.lower() == "your" else w for w in words))
    return tuple(dict.fromkeys(found))[:3]


# --- what the message does -----------------------------------------------------------------------------

EMPTY, GREETING, FAREWELL, THANKS, HOW_ARE_YOU = "empty", "greeting", "farewell", "thanks", "how_are_you"
HOW_IS = "how_is"
IDENTITY, AI_CHECK, STORY, JOKE, OPINION = "identity", "ai_check", "story", "joke", "opinion"
PREFERENCE, ADVICE, QUESTION, YES_NO, REQUEST = "preference", "advice", "question", "yes_no", "request"
FAVOURITE = "favourite"
FEELING_LOW, FEELING_HIGH, AGREE, DISAGREE, STATEMENT = "feeling_low", "feeling_high", "agree", "disagree", "statement"

_GREETING_WORDS = frozenset("hi hello hey hiya howdy greetings yo heya hallo hola bonjour morning evening".split())
_RULES: tuple[tuple[str, re.Pattern], ...] = tuple((intent, re.compile(pattern, re.I)) for intent, pattern in (
    (AI_CHECK, r"\bare you (?:an? )?(?:real|actual|human|robot|bot|machine|person|ai|alive|computer|program)\b"
               r"|\b(?:is this|am i talking to) (?:a )?(?:robot|bot|machine|ai|real)\b"),
    # "I disagree, I think you're wrong": before the rules below, whatever else the sentence says.
    (DISAGREE, r"\bi (?:really )?(?:don't|do not|can't|cannot) agree\b|\bi (?:totally |completely )?disagree\b"
               r"|\byou(?:'re| are) (?:wrong|mistaken)\b|\bthat(?:'s| is) (?:not (?:true|right)|wrong)\b"),
    (AGREE, r"\bi (?:totally |completely |quite )?agree\b|\byou(?:'re| are) (?:so |quite |absolutely )?right\b"),
    (IDENTITY, r"\bwho are you\b|\bwhat(?:'s| is) your name\b|\btell me about yourself\b|\bintroduce yourself\b"
               r"|\bwho am i (?:talking|speaking) (?:to|with)\b|\bwhat do you do\b"),
    (HOW_ARE_YOU, r"\bhow (?:are|r) (?:you|u|things)\b|\bhow(?:'s| is) (?:it going|life|your day|everything)\b"
                  r"|\bhow do you do\b|\bhow have you been\b|\byou (?:ok|okay|alright|all right)\b"
                  r"|\bwhat(?:'s| is| are| have) you (?:been )?(?:up to|doing)\b|\bwhat(?:'s| is) new\b"),
    (HOW_IS, r"\bhow(?:'s| is| are) (?:the|your|my|our|things with)\s+\w+"),
    (FAREWELL, r"^(?:ok(?:ay)?[, ]+)?(?:bye|goodbye|good night|goodnight|see (?:you|ya)|talk (?:to you )?later"
               r"|farewell|cheerio|take care|gotta go|i have to go|i'?m off)\b"),
    (THANKS, r"\b(?:thanks|thank you|thank u|thx|cheers|much appreciated|appreciate it)\b"),
    (JOKE, r"\b(?:tell|know|got) (?:me )?(?:a|any|another) (?:good |funny |short )?joke\b|\bmake me laugh\b"),
    (STORY, r"\b(?:tell|share|give) (?:me |us )?(?:a|another|one|your) (?:[a-z]+ ){0,2}(?:story|tale)\b"
            r"|\bstory time\b"),
    (OPINION, r"\bwhat do you (?:think|reckon|make) (?:of|about)\b|\byour (?:opinion|view|take|thoughts) on\b"
              r"|\bhow do you feel about\b"),
    (FAVOURITE, r"\bwhat(?:'s| is| are) your favou?rites?\s+\w"),
    (PREFERENCE, r"\bdo you (?:like|love|enjoy|prefer|hate)\b|\bwhat(?:'s| is| are) your favou?rite\b"
                 r"|\bwhich do you prefer\b"),
    (REQUEST, r"\b(?:can|could|would|will) you (?:please )?(?:tell|explain|describe|share|give|say|talk|teach"
              r"|show|recommend|suggest|sing)\b"),
    (ADVICE, r"\bhow (?:do|can|should|would) (?:i|we)\b|\bwhat should (?:i|we)\b|\bany (?:tips|advice|ideas)\b"
             r"|\b(?:can|could) you help\b|\bgive me (?:some )?(?:tips|advice)\b|\bshould i\b|\bhelp me\b"),
    (FEELING_LOW, r"\bi(?:'m| am| feel| felt|'ve been| have been)(?: so| really| a bit| very| quite)? "
                  r"(?:sad|tired|exhausted|stressed|lonely|bored|worried|anxious|upset|down|ill|sick|awful|terrible"
                  r"|miserable|unwell)\b|\bnot (?:feeling )?(?:great|good|well)\b"
                  r"|\b(?:bad|rough|hard|tough|awful|terrible|horrible|stressful|long) (?:day|week|night)\b"),
    (FEELING_HIGH, r"\bi(?:'m| am| feel|'ve been)(?: so| really| very| quite)? (?:happy|excited|great|glad"
                   r"|thrilled|delighted|proud|wonderful|fantastic|good)\b|\bgood news\b|\bguess what\b"),
))
_QUESTION_OPENERS = frozenset("what what's why how how's when where where's who who's which whose".split())
_AUX_OPENERS = frozenset("""
    can could would will do does did is are was were should shall may might have has am isn't aren't don't
    doesn't didn't won't wouldn't can't couldn't shouldn't
""".split())
_REQUEST_OPENERS = frozenset("tell explain describe give share say sing talk teach show recommend suggest".split())
_AGREE = frozenset("yes yeah yep yup sure ok okay right exactly true indeed absolutely definitely agreed".split())
_DISAGREE = frozenset("no nope nah not never disagree wrong".split())


def message_intent(text: str, *, ignore: frozenset[str] = frozenset()) -> str:
    """What the (cleaned) message does; `ignore`: lower-case words that carry nothing here, such as the
    persona's own name ("Hi Ada!" is a plain greeting)."""
    words = [w for w in _words(text) if w not in ignore]
    if not words:
        return EMPTY
    for intent, pattern in _RULES:
        if pattern.search(text):
            return intent
    content = [w for w in words if w not in _GREETING_WORDS and w != "good"]
    if not content:
        return GREETING
    if words[0] in _GREETING_WORDS:
        words = content
    if words[0] in _QUESTION_OPENERS:
        return QUESTION
    if words[0] in _AUX_OPENERS or text.rstrip().endswith("?"):
        return YES_NO if words[0] in _AUX_OPENERS else QUESTION
    if words[0] in _REQUEST_OPENERS or (words[0] == "please" and len(words) > 1 and words[1] in _REQUEST_OPENERS):
        return REQUEST
    if len(words) <= 3 and words[0] in _AGREE:
        return AGREE
    if len(words) <= 3 and words[0] in _DISAGREE:
        return DISAGREE
    return STATEMENT


# --- the topic: a clean noun phrase, or nothing ----------------------------------------------------------

_NP_STOP = frozenset("""
    a an the this that these those it its i me my you your we our they them he she him her his their
    and or but so because if when while with without for from to of in on at by as than then about into
    onto over under after before again today yesterday tomorrow tonight now here there very really just
    quite too also still ever never always sometimes alive well properly better ready right best most way
    ways thing things lot lots bit kind sort stuff something anything everything nothing someone anyone
    is are was were be been being am do does did have has had can could would should will shall may might
    must not no yes please thanks thank like love enjoy hate prefer want need think know get got make made
    go going went come came take took give gave say said tell told how what why where who which whose
    used uses use goes lives lived says makes bakes baked cooks cooked tries wants wanted likes liked loves
    loved knows knew thinks thought looks looked seems seemed feels felt gets keeps kept taught works worked
    calls called died passed moved started stopped burnt burned broke fell
    last next ago advice tips help idea ideas question questions
""".split())
_VERB_OBJECT = re.compile(
    r"\b(?:about|like|love|enjoy|hate|prefer|make|makes|made|bake|baking|cook|cooking|keep|shape|build|grow"
    r"|fix|learn|play|visit|try|tried|start|finish|read|watch|miss|lost|found|bought)\s+(?P<rest>[^.,;:!?]+)",
    re.I,
)
_DETERMINED = re.compile(r"\b(?P<det>my|our|your|the|a|an|some)\s+(?P<rest>[^.,;:!?]+)", re.I)
_POSSESSIVE_SWAP = {"my": "your", "our": "your", "your": "my"}
# What a favourite is asked for ("your favourite food" → "food"), and what a story should be about
# ("a story about the sea" → "the sea"): the reply names these rather than a topic found elsewhere.
_FAVOURITE_OF = re.compile(r"\bfavou?rites?\s+(?P<rest>[^.,;:!?]+)", re.I)
_STORY_ABOUT = re.compile(r"\b(?:story|stories|tale|tales)\s+(?:about|of|with)\s+(?P<rest>[^.,;:!?]+)", re.I)
_DETERMINERS = frozenset(("a", "an", "the", "some", *_POSSESSIVE_SWAP))
_MAX_TOPIC_WORDS = 3


def topic_of(text: str, *, ignore: frozenset[str] = frozenset()) -> str | None:
    """A noun phrase the message is about ("a sourdough starter", "your grandmother"), or None.

    Taken after "about" or a verb of liking or making, or after a determiner, whichever comes first;
    an article is kept and a possessive turned to the speaker's side ("my cat" → "your cat"). At most
    three words and never a stop word inside, so what comes back is a phrase, not a fragment."""
    found = []
    for pattern in (_VERB_OBJECT, _DETERMINED):
        for match in pattern.finditer(text):
            phrase = _noun_phrase(match.group("rest"), ignore)
            det = (match.groupdict().get("det") or "").lower()
            if phrase:
                found.append((match.start("rest"), det, phrase))
    if not found:
        return None
    _, det, phrase = min(found, key=lambda item: item[0])
    if det in _POSSESSIVE_SWAP:
        return f"{_POSSESSIVE_SWAP[det]} {phrase}"
    return f"{det} {phrase}" if det in ("a", "an", "the", "some") else phrase


def _phrase_after(pattern: re.Pattern, text: str, ignore: frozenset[str]) -> str | None:
    match = pattern.search(text)
    return _noun_phrase(match.group("rest"), ignore) if match else None


def _noun_phrase(rest: str, ignore: frozenset[str]) -> str | None:
    """The words of `rest` up to the first stop word (an article or possessive first is carried over:
    "a sourdough starter alive" → "a sourdough starter")."""
    words = _WORD.findall(rest)
    lead = ""
    if words and words[0].lower() in _DETERMINERS:
        lead, words = words[0].lower(), words[1:]
    phrase = []
    for word in words:
        if word.lower() in _NP_STOP or word.lower() in ignore or len(word) > 24:
            break
        phrase.append(word)
        if len(phrase) == _MAX_TOPIC_WORDS:
            break
    if not phrase or all(len(w) < 3 for w in phrase):
        return None
    text = " ".join(phrase)
    if lead in _POSSESSIVE_SWAP:
        return f"{_POSSESSIVE_SWAP[lead]} {text}"
    return f"{lead} {text}" if lead else text


# --- replies --------------------------------------------------------------------------------------------

_ACK = {TONE_WARM: "Oh", TONE_GRUFF: "Hmph", TONE_FORMAL: "Indeed", TONE_PLAYFUL: "Ha", TONE_CALM: "Mm"}
_GREET = {TONE_WARM: "Hello!", TONE_GRUFF: "Aye, hello.", TONE_FORMAL: "Good day.", TONE_PLAYFUL: "Hiya!",
          TONE_CALM: "Hello there."}

# {name} {role} {interest} {topic} {Topic} {ack} {greet}: a template is a candidate only when all its fields
# have values. Every template is a whole reply; none repeats the user's sentence back.
_TEMPLATES: dict[str, tuple[str, ...]] = {
    GREETING: (
        "{greet} It's {name}. What's on your mind today?",
        "{greet} {name} here, {role}. Good to hear from you.",
        "{greet} Good to hear from you. How's your day going?",
        "{greet} What shall we talk about?",
        "{greet} I was hoping you'd drop by. What's new with you?",
    ),
    HOW_ARE_YOU: (
        "I'm doing well, thanks for asking! How about you?",
        "Not bad at all. I've been thinking about {interest} again. And you, how are things?",
        "{ack}, can't complain. What about you?",
        "I'm well, thank you. It's nice of you to ask. How are you keeping?",
    ),
    HOW_IS: (
        "{Topic}? All good, thanks for asking! How about you?",
        "Ticking along nicely, thank you. What's new with you?",
        "Can't complain! Thanks for asking. What about your day?",
    ),
    IDENTITY: (
        "I'm {name}, {role}. What would you like to know?",
        "I'm {name}. People know me for {interest}, so ask away!",
        "My name's {name}. I'm always happy to chat. What about you?",
        "I'm {name}, {role}, and I love {interest}. Tell me about yourself?",
        "I'm an AI voice, here for a chat. What would you like to talk about?",
    ),
    AI_CHECK: (
        "I'm an AI voice clone speaking as {name}, so not a real person. But I'm glad to chat!",
        "Honestly, no: I'm an AI, a cloned voice playing {name}. What shall we talk about?",
        "I'm AI-generated speech in a cloned voice, not a human. Still happy to keep you company.",
    ),
    STORY: (
        "A short one about {topic}, then. Someone who thought they knew all about {topic} spent a whole day "
        "finding out otherwise, and came home happier for it. The best stories start like that, don't they?",
        "Here's a short one. Once, on a grey morning, {role_less} found that the thing they had given up on "
        "had worked after all, laughed, and started again.",
        "A tiny story, then. A traveller asked an old friend what made a good day, and the friend said: "
        "one small thing, done well.",
        "Once upon a time, someone tried {interest} for the very first time, made a mess of it, and loved "
        "every minute. That's where the best stories start, isn't it?",
    ),
    JOKE: (
        "Why did the scarecrow win an award? Because he was outstanding in his field!",
        "What do you call a sleeping bull? A bulldozer!",
        "Why don't eggs tell jokes? They'd crack each other up!",
        "I told my friend a joke about bread once. It was a bit crumby. {ack}, I'll see myself out.",
    ),
    OPINION: (
        "{Topic}? I'm quite fond of it, to be honest. What's your view?",
        "Honestly, I think there's more to {topic} than meets the eye. What made you ask?",
        "I have mixed feelings about {topic}, if I'm honest. What do you think?",
        "Speaking as {role}, I'd say it depends on the day. What's your take?",
        "Good question. I think there's more to it than meets the eye. What do you reckon?",
    ),
    FAVOURITE: (
        "My favourite {thing}? Hard to pick just one, honestly. What's yours?",
        "Now that's a tough one. I change my mind about {thing} every week! Which is your favourite?",
        "Ooh, I'd need a minute to choose a favourite {thing}. Tell me yours first?",
        "I have a few, and they change with my mood. What's your favourite {thing}?",
    ),
    PREFERENCE: (
        "I do, yes! I'm always happy to talk about {topic}. Do you?",
        "I'd say so. Though nothing beats {interest} for me. What about you?",
        "Oh, I'm rather fond of {topic}. Do you have a favourite?",
        "Now you're asking! I like all sorts, but {interest} is hard to beat. And you?",
        "I do enjoy it, yes. Why do you ask?",
    ),
    ADVICE: (
        "With {topic}, I'd start small and go one step at a time. What have you tried so far?",
        "My advice: keep it simple, be patient, and don't be afraid to get it wrong at first. "
        "Where are you stuck?",
        "Speaking as {role}, I'd say practice beats perfect. What's the tricky part for you?",
        "Take a breath and break it into small steps. Which bit worries you most?",
    ),
    QUESTION: (
        "Good question! With {topic}, I'd say it depends a little on the day. What do you think?",
        "Hmm, let me think. I'd say start with what you know and go from there. What made you wonder?",
        "That's a proper question about {topic}. From what I've seen, patience matters more than anything. "
        "Why do you ask?",
        "Ooh, I like that question. Speaking as {role}, I'd keep it simple. What would you guess?",
        "I'm not entirely sure, to be honest, but I'd love to work it out with you. Where would you start?",
    ),
    YES_NO: (
        "I'd say yes, mostly. Though it depends a bit. Why do you ask?",
        "Hmm, I think so, yes. What's got you wondering?",
        "Not always, but often enough. What do you think?",
        "Good question. I'd lean towards yes. Would you?",
    ),
    REQUEST: (
        "Happy to talk about {topic}! Shall I start with the basics, or is there something in particular?",
        "Gladly. {Topic} is a good subject. What would you like to know first?",
        "Happy to! Where shall I start?",
        "Sure thing. What would you like first?",
        "With pleasure. Where would you like me to begin?",
        "Of course. Tell me a bit more about what you're after, and I'll do my best.",
        "I'd love to. Give me a hint of what you'd like to hear first?",
    ),
    FEELING_LOW: (
        "Oh, I'm sorry to hear that. Do you want to talk about it?",
        "That sounds hard. Be gentle with yourself today. What would help a little?",
        "I'm sorry. I'm here to listen if you'd like to tell me more.",
    ),
    FEELING_HIGH: (
        "That's wonderful! Tell me everything.",
        "Oh, how lovely! What happened?",
        "Brilliant news! You've made my day. Go on, what's the story?",
    ),
    THANKS: (
        "You're very welcome! Anything else on your mind?",
        "My pleasure, truly. I'm always happy to chat.",
        "Any time! Is there anything else you'd like to talk about?",
    ),
    FAREWELL: (
        "Goodbye for now! It was lovely talking with you.",
        "Take care! Come back and chat any time.",
        "Bye! Look after yourself, and speak soon.",
    ),
    AGREE: (
        "Glad we agree! What else is on your mind?",
        "Exactly. So, what shall we talk about next?",
        "Right you are. Tell me more?",
    ),
    DISAGREE: (
        "Fair enough, we don't have to agree on everything! What's your view?",
        "No? Tell me what you'd change.",
        "Alright, I hear you. What makes you say so?",
    ),
    STATEMENT: (
        "Tell me more about {topic}.",
        "{Topic}, really? I'd love to hear more about that.",
        "{Topic}? Now that's something. What's the story there?",
        "I'd like to hear more about {topic}. What happened?",
        "Oh, {topic}! Go on, I'm all ears.",
        "That's interesting. How did that come about?",
        "I see. And how do you feel about it?",
        "Go on, I'm listening.",
        "Really? What happened next?",
        "That reminds me of {interest}, funnily enough. But tell me more about your side.",
    ),
    EMPTY: (
        "Sorry, I didn't quite catch that. Could you say it again?",
        "I missed what you said there. Could you try once more?",
    ),
}
_FIELD = re.compile(r"\{(\w+)\}")
FALLBACK = "I'm listening. Tell me more?"


def _stable_index(seed: str, count: int) -> int:
    # hashlib, not hash(): str hashes are salted per process (PYTHONHASHSEED), and the same turn must
    # get the same reply in every worker.
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % count


def _conversation_seed(persona: str, history: Sequence[Turn]) -> str:
    """Changes with every turn of the conversation and between conversations with different histories."""
    return "\x1f".join([persona, str(len(history)), *(f"{t.role}:{t.text}" for t in history)])


MAX_SENTENCES = 3
MAX_SENTENCES_SHORT = 2


def _fit(text: str, *, short: bool) -> str:
    """At most three sentences (two for a persona that speaks in short sentences) and 300 characters."""
    sentences = re.findall(r"[^.!?]+[.!?]+(?:\s|$)|[^.!?]+$", text)
    limit = MAX_SENTENCES_SHORT if short else MAX_SENTENCES
    if len(sentences) > limit:
        text = "".join(sentences[:limit]).strip()
    if len(text) <= MAX_REPLY_CHARS:
        return text.strip()
    cut = text[:MAX_REPLY_CHARS]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > 0 else cut.rsplit(" ", 1)[0] + "."


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


_GREET_BACK = {TONE_WARM: ("Hi!", "Hello!", "Hey!"), TONE_GRUFF: ("Hello.", "Aye, hello."),
               TONE_FORMAL: ("Good day.", "Hello."), TONE_PLAYFUL: ("Hey hey!", "Hiya!"), TONE_CALM: ("Hello.", "Hi.")}
_TOPIC_INTENTS = frozenset((HOW_IS, OPINION, PREFERENCE, ADVICE, QUESTION, REQUEST, STATEMENT))


class OfflineEngine:
    """Answers in character from templates; see the module docstring. Never raises for input."""

    name = ENGINE_OFFLINE

    def reply(self, request: ReplyRequest) -> ReplyResult:
        persona = persona_profile(request.persona, voice_name=request.voice_name)
        message = clean_user_text(request.latest_user_text)
        ignore = frozenset(_words(persona.name or ""))
        intent = message_intent(message, ignore=ignore)
        topic = topic_of(message, ignore=ignore) if intent in _TOPIC_INTENTS else None
        if intent == STORY:
            topic = _phrase_after(_STORY_ABOUT, message, ignore)
        elif intent == QUESTION and _words(message)[:1] == ["why"]:
            topic = None  # "Why is the sky blue?": what follows "why is" is a clause, not a noun phrase
        fields = {
            "name": persona.name,
            "role": persona.role,
            "role_less": re.sub(r"^(?:an?|the)\s+", "a ", persona.role) if persona.role else "a friend of mine",
            "interest": persona.interests[0] if persona.interests else None,
            "topic": topic,
            "Topic": _capitalise(topic) if topic else None,
            "ack": _ACK[persona.tone],
            "greet": _GREET[persona.tone],
            "thing": _phrase_after(_FAVOURITE_OF, message, ignore) if intent == FAVOURITE else None,
        }
        candidates = [t for t in _TEMPLATES[intent] if all(fields.get(key) for key in _FIELD.findall(t))]
        candidates = candidates or [FALLBACK]
        if topic:
            # Naming the user's actual subject reads as listening: prefer those wordings.
            candidates = [t for t in candidates if "{topic}" in t.lower()] or candidates
        seed = _conversation_seed(request.persona, request.history)
        texts = [t.format(**{k: v or "" for k, v in fields.items()}) for t in candidates]
        recent = {t.text for t in list(request.history)[-2 * RECENT_REPLIES_AVOIDED:] if t.role == "assistant"}
        fresh = [t for t in texts if t not in recent] or texts
        text = fresh[_stable_index(seed, len(fresh))]
        if intent != GREETING and _words(message)[:1] and _words(message)[0] in _GREETING_WORDS:
            # "Hi Ada, how are you?": greet back before answering.
            greetings = _GREET_BACK[persona.tone]
            text = f"{greetings[_stable_index(seed + 'greet', len(greetings))]} {text}"
        return ReplyResult(text=_fit(text, short=persona.short), engine=self.name, model=None, is_offline=True,
                           usage=None)
