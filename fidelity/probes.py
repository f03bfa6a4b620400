"""The fixed probe set the promotion gate renders with the candidate and the active version.

Varied on purpose: a short line, a long one (prosody needs room), a question and an exclamation (melody
at the end of a sentence is what a flattened clone loses first), numbers and a date (text normalisation,
caught by the speech-to-text round trip), and proper names (unusual phonemes). About 330 characters, so one
gate costs about 660 characters of text-to-speech (both sides) plus the transcriptions.

Changing the sentences changes every measurement: bump PROBE_SET_VERSION with them (a report records the
version it was made with, and the drift monitor only compares probes of one version).
"""

PROBE_SET_VERSION = 1

PROBE_SENTENCES = (
    "Good morning.",
    "When the rain finally stopped, we walked down to the harbour and watched the fishing boats come home "
    "one by one.",
    "Could you tell me where the nearest station is?",
    "What a wonderful surprise!",
    "Your order number is 4721, and it ships on the 18th of March.",
    "Margaret Okonkwo met Siobhan in Wrocław last July.",
    "Please speak slowly and clearly.",
)


def probe_characters() -> int:
    """Characters one side of the probe set costs at the provider (TTS bills characters)."""
    return sum(len(text) for text in PROBE_SENTENCES)
