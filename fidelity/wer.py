"""Speech-to-text round trip: how many words of the text a transcript of the rendered speech gets wrong.

A clone that mumbles, skips or garbles words shows it here before anyone listens. jiwer computes the
word error rate (substitutions + deletions + insertions over reference words) after both texts are
normalised the same way: lower case, punctuation removed, whitespace collapsed, so "Hello, world!" and
"hello world" agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import jiwer

_NORMALISE = jiwer.Compose(
    [
        jiwer.ToLowerCase(),
        jiwer.RemovePunctuation(),
        jiwer.RemoveMultipleSpaces(),
        jiwer.Strip(),
        jiwer.ReduceToListOfListOfWords(),
    ]
)


def transcript_wer(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> float:
    """Word error rate (0 = perfect; can exceed 1 with many insertions) of one pair or of paired lists.

    Lists are scored as one corpus (errors over all reference words), not as an average of rates.
    Raises ValueError when the reference has no words.
    """
    refs = [reference] if isinstance(reference, str) else list(reference)
    hyps = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
    if len(refs) != len(hyps):
        raise ValueError("reference and hypothesis lists differ in length")
    if not any(_NORMALISE(r) and _NORMALISE(r)[0] for r in refs):
        raise ValueError("the reference text has no words")
    # jiwer rejects empty hypotheses; an empty transcript is every word deleted.
    hyps = [h if h.strip() else "\u2205" for h in hyps]
    rate = jiwer.wer(refs, hyps, reference_transform=_NORMALISE, hypothesis_transform=_NORMALISE)
    return round(float(rate), 4)
