"""Prompt building and reply clean-up for engines that call a language model."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .types import ReplyRequest, Turn

# Languages the ElevenLabs multilingual models speak that people pick most; any
# other code is passed to the model as-is, which models understand well enough.
_LANGUAGE_NAMES = {
    "ar": "Arabic",
    "cs": "Czech",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "fi": "Finnish",
    "fr": "French",
    "hi": "Hindi",
    "hu": "Hungarian",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "no": "Norwegian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sv": "Swedish",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "vi": "Vietnamese",
    "zh": "Chinese",
}


def language_name(code: str) -> str:
    code = (code or "").strip()
    if not code:
        return "English"
    # "en-GB" and "pt_BR" name the same language as their base code.
    base = re.split(r"[-_]", code, maxsplit=1)[0].lower()
    return _LANGUAGE_NAMES.get(base, code)


def build_system_prompt(request: ReplyRequest) -> str:
    """The persona, then how to answer: the reply is spoken by a TTS voice."""
    name = request.voice_name.strip() or "the voice"
    persona = request.persona.strip() or f"You are {name}."
    instruction = (
        f"Stay in character as {name} and reply to the user's latest message. "
        "Your reply is turned into speech, so write plain spoken sentences: "
        "one to three short sentences, no markdown, lists, emoji, stage directions or links. "
        f"Reply in {language_name(request.language)}."
    )
    memory = request.memory.strip()
    if memory:
        instruction += (
            "\n\nWhat you remember from earlier in this conversation (a summary; the latest messages "
            f"follow as they were said):\n{memory}"
        )
    return f"{persona}\n\n{instruction}"


# The memory may use at most this share of the history budget; the recent turns get the rest.
MEMORY_BUDGET_SHARE = 3


def split_budget(memory: str, *, char_budget: int) -> tuple[str, int]:
    """(memory cut to at most a third of `char_budget`, the characters left for the recent turns).

    A memory that is too long keeps its beginning up to the last full line that fits: summaries are
    written oldest first, and a line is one fact.
    """
    memory = (memory or "").strip()
    cap = char_budget // MEMORY_BUDGET_SHARE
    if len(memory) > cap:
        cut = memory[:cap]
        memory = cut[: cut.rfind("\n")].rstrip() if "\n" in cut else cut.rsplit(" ", 1)[0]
    return memory, char_budget - len(memory)


def history_within_budget(history: Sequence[Turn], *, char_budget: int) -> list[Turn]:
    """The most recent turns whose texts fit in `char_budget` characters, oldest first.

    The last turn (the user message being answered) is always kept; if it alone is
    over the budget it keeps its end, where a long voice transcript usually asks
    its question. Older turns are taken newest first and the walk stops at the
    first one that does not fit, so the model never sees a conversation with a
    hole in it.
    """
    turns = _merge_same_role(history)
    if not turns:
        return []
    latest = turns[-1]
    if len(latest.text) > char_budget:
        latest = Turn(role=latest.role, text=latest.text[-char_budget:].lstrip())
    kept = [latest]
    used = len(latest.text)
    for turn in reversed(turns[:-1]):
        if used + len(turn.text) > char_budget:
            break
        kept.append(turn)
        used += len(turn.text)
    kept.reverse()
    # Several chat templates (Mistral, some Llama builds on vLLM) refuse a
    # conversation whose first non-system message is the assistant's.
    while len(kept) > 1 and kept[0].role == "assistant":
        kept.pop(0)
    return kept


def _merge_same_role(history: Sequence[Turn]) -> list[Turn]:
    """Drop empty turns and join neighbours with the same role.

    Two user messages in a row happen when a reply failed; strict chat templates
    reject non-alternating roles, and the model reads a joined message just as well.
    """
    merged: list[Turn] = []
    last_index = len(history) - 1
    for index, turn in enumerate(history):
        text = turn.text.strip()
        if not text and index != last_index:
            continue
        if merged and merged[-1].role == turn.role:
            joined = "\n".join(part for part in (merged[-1].text, text) if part)
            merged[-1] = Turn(role=turn.role, text=joined)
        else:
            merged.append(Turn(role=turn.role, text=text))
    return merged


# Reasoning models served by Ollama or vLLM (deepseek-r1, qwen3) put their
# chain of thought in the content inside <think> tags; it must not be spoken.
_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_EMPHASIS = re.compile(r"(\*{1,3})(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
# As in CommonMark, underscores inside a word ("snake_case") are not emphasis.
_UNDERSCORE_EMPHASIS = re.compile(r"(?<!\w)(_{1,3})(?=\S)(.+?)(?<=\S)\1(?!\w)", re.DOTALL)
_CODE_SPAN = re.compile(r"`+([^`]*)`+")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.MULTILINE)
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_SENTENCE_END = re.compile(r"[.!?…](?=[\"')\]]*(?:\s|$))")


def strip_reasoning(text: str) -> str:
    """A model's answer without `<think>` blocks, keeping its line breaks (for written, not spoken, text)."""
    return _THINK_BLOCK.sub("", text).strip()


def make_speakable(text: str, *, was_cut_off: bool = False) -> str:
    """Strip what a TTS voice would read aloud literally: markdown, think blocks, line breaks.

    When the model hit max_tokens (`was_cut_off`), drop the unfinished last
    sentence if a finished one comes before it.
    """
    text = _THINK_BLOCK.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _CODE_SPAN.sub(r"\1", text)
    text = _HEADING.sub("", text)
    text = _BULLET.sub("", text)
    # Twice, for emphasis nested in emphasis ("**a *b* c**").
    for _ in range(2):
        text = _EMPHASIS.sub(r"\2", text)
        text = _UNDERSCORE_EMPHASIS.sub(r"\2", text)
    text = text.replace("*", "")
    text = " ".join(text.split())
    if was_cut_off:
        ends = list(_SENTENCE_END.finditer(text))
        if ends:
            text = text[: ends[-1].end()]
    return text.strip()
