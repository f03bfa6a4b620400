"""Does retraining help? Successive retrain generations on the emulator, similarity to the originals.

Run: .venv/bin/python bench/fidelity.py [--generations 5] [--shares 0.3 0.6 0.9] [--gate-share 0.3]

A "human" speaker's originals are synthesised directly by the emulator's synthesiser (not through its
API, so the emulator does not know them as its own renders and measures them like a person's recordings;
emulator speech and espeak-ng differ in MFCCs, so the reference must be emulator speech). A voice is
cloned from them, then each generation is trained on the previous generation's stored replies:

  (a) old       the old behaviour: the next clone is made from the generated replies alone, no originals;
  (b) s=<x>     voiceclone: conversations produce replies (message_send, the reply task, clip analysis),
                staff approve the clips, and the real retrain run services pick the training set
                (clones.services.selection with RETRAIN_GENERATED_SHARE_MAX = x) and propose → approve →
                execute → promote; every candidate is promoted (staff override the fidelity gate);
  (c) gate      as (b) with the default share and the real promotion gate (fidelity.gate, FIDELITY_GATE_*
                settings): `retrain_run_promote` refuses a failing candidate (FidelityGateFailed), the bench
                then rejects the run and the active version keeps speaking.

After every generation the active version reads a fixed probe set through the provider; the number printed
is fidelity.similarity.speaker_similarity of those replies (pooled) to the originals (0–1). Writes the
table to stdout, bench/results/fidelity.json and bench/results/fidelity.png. Prints only; not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_tmp = tempfile.mkdtemp(prefix="bench-fidelity-")
os.environ["DATABASE_URL"] = f"sqlite:///{_tmp}/bench.sqlite3"
os.environ["MEDIA_ROOT"] = f"{_tmp}/media"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from clones import services as clone_services  # noqa: E402
from clones.models import ClipSample, Voice  # noqa: E402
from conversations import services as conversation_services  # noqa: E402
from conversations.models import Message  # noqa: E402
from fidelity.similarity import speaker_similarity, voice_profile  # noqa: E402
from retraining import services as retrain_services  # noqa: E402
from fidelity.gate import FidelityGateFailed, FidelityGatePending, fidelity_gate_evaluate  # noqa: E402
from fidelity.models import GateReport  # noqa: E402
from retraining.models import RetrainRun  # noqa: E402
from voiceclone import provider  # noqa: E402
from voiceclone.emulator import EmulatorServer, audio  # noqa: E402
from voiceclone.emulator.timbre import timbre_for  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SPEAKER = "fidelity-bench human speaker"
ORIGINAL_TEXTS = [
    "My grandmother kept a garden behind the bakery, and every summer we picked beans until our hands were green.",
    "When the train was late again, I walked the whole way home along the river and counted the herons.",
    "Honestly, I never liked winter, but the first snow still makes me stop and look out of the window.",
]
PROBE_TEXTS = [
    "Good morning! Did you sleep well?",
    "The museum opens at nine thirty, and tickets cost twelve euros for adults.",
    "Would you like me to read the rest of the letter from Margaret tonight, or shall we wait until tomorrow?",
    "What a surprise! I had no idea you were coming to Lisbon this spring.",
    "Slowly, carefully, she folded the map and put it back into the glove compartment.",
]
QUESTIONS = [
    "Tell me about the garden you remember best.",
    "What did you cook last Sunday and who came?",
    "How do you keep bread fresh for a week?",
    "Which book would you read again and why?",
    "What was your first job like?",
    "Describe the view from your kitchen window.",
    "What should I plant in a shady corner?",
    "How did you learn to ride a bicycle?",
]


def originals() -> list[tuple[str, bytes]]:
    timbre = timbre_for(SPEAKER)
    return [(f"original-{i}.wav", audio.encode(audio.synthesize(text, timbre), "wav"))
            for i, text in enumerate(ORIGINAL_TEXTS)]


class Probe:
    """The active version reads PROBE_TEXTS; scored against the originals."""

    def __init__(self, recordings: list[bytes]):
        self.profile = voice_profile(recordings)
        self.cache: dict[str, float] = {}

    def __call__(self, provider_voice_id: str) -> float:
        if provider_voice_id not in self.cache:
            replies = [provider.tts(voice_id=provider_voice_id, text=text).audio for text in PROBE_TEXTS]
            self.cache[provider_voice_id] = speaker_similarity(replies, self.profile).score
        return self.cache[provider_voice_id]


def generation_of(provider_voice_id: str, ctl_url: str) -> int:
    import httpx

    return httpx.get(f"{ctl_url}/_emulator/voices/{provider_voice_id}/timbre").json()["generation"]


def old_behaviour(recordings, probe, generations, replies_per_generation, url) -> list[dict]:
    """(a) Each clone made from the previous clone's replies alone."""
    voice_id = provider.create_voice(
        name="old-0", files=[provider.AudioFile(n, d, "audio/wav") for n, d in recordings], description=None, labels={}
    )
    rows = [{"generation": 0, "similarity": probe(voice_id), "depth": generation_of(voice_id, url), "promoted": True}]
    for g in range(1, generations + 1):
        replies = [
            provider.tts(voice_id=voice_id, text=f"{QUESTIONS[i % len(QUESTIONS)]} Let me answer that, generation {g}.")
            .audio for i in range(replies_per_generation)
        ]
        voice_id = provider.create_voice(
            name=f"old-{g}", files=[provider.AudioFile(f"reply-{i}.mp3", d, "audio/mpeg") for i, d in enumerate(replies)],
            description=None, labels={},
        )
        rows.append({"generation": g, "similarity": probe(voice_id), "depth": generation_of(voice_id, url),
                     "promoted": True})
    return rows


def voiceclone_series(label, recordings, probe, generations, conversations, url, *, share, gate) -> list[dict]:
    """(b)/(c) The real services: conversations, review, propose → approve → execute → promote."""
    settings.RETRAIN_GENERATED_SHARE_MAX = share
    User = get_user_model()
    owner = User.objects.create_user(f"owner-{label}", password="bench-password-123")
    staff = User.objects.create_user(f"staff-{label}", password="bench-password-123", is_staff=True, is_superuser=True)
    voice = clone_services.voice_create(
        owner=owner, name=f"Speaker {label}", persona="You are a warm storyteller who answers in a few sentences.",
        samples=[clone_services.SampleUpload(filename=n, data=d) for n, d in recordings], consent=True,
    )
    voice = Voice.objects.get(pk=voice.pk)
    if voice.status != Voice.Status.READY:
        voice = clone_services.voice_provider_create(voice_id=voice.pk)
    active = voice.current_version.provider_voice_id
    rows = [{"generation": 0, "similarity": probe(active), "depth": generation_of(active, url), "promoted": True}]
    for g in range(1, generations + 1):
        for i in range(conversations):
            conversation = conversation_services.conversation_create(user=owner, voice=voice)
            _, reply = conversation_services.message_send(
                conversation=conversation, text=f"{QUESTIONS[i % len(QUESTIONS)]} ({label} {g}.{i})"
            )
            if Message.objects.get(pk=reply.pk).status == Message.Status.PENDING:
                conversation_services.message_reply_generate(message_id=reply.pk)
        for clip in ClipSample.objects.filter(voice=voice, review_status=ClipSample.ReviewStatus.PENDING,
                                              source=ClipSample.Source.GENERATED):
            clone_services.clip_review(clip=clip, reviewer=staff, status=ClipSample.ReviewStatus.APPROVED)
        run = retrain_services.retrain_run_propose(voice=voice, proposed_by=staff)
        retrain_services.retrain_run_approve(run=run, by=staff)
        run = RetrainRun.objects.get(pk=run.pk)
        if run.state != RetrainRun.State.CANDIDATE:
            retrain_services.retrain_run_execute(run_id=run.pk)
            run = RetrainRun.objects.get(pk=run.pk)
        assert run.state == RetrainRun.State.CANDIDATE, (run.state, run.failure_code, run.failure_message)
        candidate = run.new_version.provider_voice_id
        candidate_similarity = probe(candidate)
        candidate_depth = generation_of(candidate, url)  # a refused candidate's provider voice is deleted
        report = GateReport.objects.filter(run=run).first()
        if report is None or report.verdict == GateReport.Verdict.PENDING:
            report = fidelity_gate_evaluate(run_id=run.pk)
        refusal = None
        try:
            if gate:
                retrain_services.retrain_run_promote(run=run, by=staff)
            else:
                retrain_services.retrain_run_promote(
                    run=run, by=staff, override_reason="bench/fidelity.py (b): retraining without the gate")
        except (FidelityGateFailed, FidelityGatePending) as refused:
            refusal = str(refused)
            retrain_services.retrain_run_reject(run=run, by=staff, reason=refusal)
        promoted = refusal is None
        voice = Voice.objects.get(pk=voice.pk)
        active = voice.current_version.provider_voice_id
        rows.append({
            "generation": g, "similarity": probe(active), "candidate_similarity": candidate_similarity,
            "candidate_depth": candidate_depth, "depth": generation_of(active, url),
            "promoted": promoted, "clips": run.run_clips.count(),
            "gate": {"verdict": report.verdict if report else None,
                     "similarity": report.similarity if report else None,
                     "active_similarity": report.active_similarity if report else None,
                     "reasons": [r.get("code") for r in report.reasons] if report else []},
            "generated_share": _generated_share(run),
        })
    return rows


def _generated_share(run: RetrainRun) -> float | None:
    """Generated share of the uploaded seconds (a cut clip counts with the seconds it contributes)."""
    clips = list(run.run_clips.select_related("clip"))
    seconds = [(c.use_s if c.use_s is not None else c.clip.duration_s or 0.0, c.clip.source) for c in clips]
    total = sum(s for s, _ in seconds)
    generated = sum(s for s, source in seconds if source == ClipSample.Source.GENERATED)
    return round(generated / total, 3) if total else None


def main() -> None:
    logging.disable(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=5)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.3, 0.6, 0.9],
                        help="RETRAIN_GENERATED_SHARE_MAX values for (b)")
    parser.add_argument("--gate-share", type=float, default=None,
                        help="RETRAIN_GENERATED_SHARE_MAX for (c) (default: the setting's default)")
    parser.add_argument("--conversations", type=int, default=8, help="conversations (one reply each) per generation")
    args = parser.parse_args()
    started = time.perf_counter()

    server = EmulatorServer(port=0, voice_limit=500).start()
    settings.ELEVENLABS_BASE_URL = server.url
    settings.ELEVENLABS_TIMEOUT_S = 300.0  # the machine may be loaded; a timeout here measures nothing
    call_command("migrate", verbosity=0)
    settings.RETRAIN_MIN_CONVERSATIONS = args.conversations
    settings.RETRAIN_MIN_APPROVED_CLIPS = args.conversations
    default_share = args.gate_share if args.gate_share is not None else settings.RETRAIN_GENERATED_SHARE_MAX
    recordings = originals()
    probe = Probe([d for _, d in recordings])
    series: dict[str, list[dict]] = {}
    try:
        series["(a) old: replies only"] = old_behaviour(recordings, probe, args.generations, args.conversations, server.url)
        for share in args.shares:
            series[f"(b) selection, share {share:g}"] = voiceclone_series(
                f"b{share:g}", recordings, probe, args.generations, args.conversations, server.url,
                share=share, gate=None)
        series[f"(c) gate, share {default_share:g}"] = voiceclone_series(
            "c", recordings, probe, args.generations, args.conversations, server.url,
            share=default_share, gate=True)
    finally:
        server.stop()
    elapsed = time.perf_counter() - started
    report(series, args, elapsed)


def report(series, args, elapsed) -> None:
    names = list(series)
    print(f"similarity of the active version to the originals (fidelity.similarity, 0-1), per generation; "
          f"{args.conversations} replies per generation")
    print(f"(c): the promotion gate (fidelity.gate): similarity >= {settings.FIDELITY_GATE_MIN_SIMILARITY:g}, drop <= "
          f"{settings.FIDELITY_GATE_MAX_SIMILARITY_DROP:g} vs the active version, WER and prosody; a refused candidate "
          "is rejected and the active version keeps speaking")
    print("d<n>: the active voice's lineage depth at the emulator (0: cloned from human audio only)")
    print(f"{'generation':>10} " + " ".join(f"{n:>34}" for n in names))
    for g in range(args.generations + 1):
        cells = []
        for n in names:
            row = series[n][g]
            mark = "" if row.get("promoted", True) else " (refused)"
            cells.append(f"{row['similarity']:.3f} d{row['depth']}{mark}")
        print(f"{g:>10} " + " ".join(f"{c:>34}" for c in cells))
    print(f"run time {elapsed:.0f} s")
    RESULTS.mkdir(exist_ok=True)
    payload = {"generations": args.generations, "conversations": args.conversations,
               "gate": {"min_similarity": settings.FIDELITY_GATE_MIN_SIMILARITY,
                        "max_similarity_drop": settings.FIDELITY_GATE_MAX_SIMILARITY_DROP,
                        "applied_by": "fidelity.gate via retrain_run_promote"},
               "probe_texts": PROBE_TEXTS, "run_time_s": round(elapsed), "series": series}
    (RESULTS / "fidelity.json").write_text(json.dumps(payload, indent=2) + "\n")
    chart(series, RESULTS / "fidelity.png", settings.FIDELITY_GATE_MIN_SIMILARITY)
    print(f"wrote {RESULTS / 'fidelity.json'} and {RESULTS / 'fidelity.png'}")


def chart(series, path: Path, gate: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for name, rows in series.items():
        ax.plot([r["generation"] for r in rows], [r["similarity"] for r in rows], marker="o", label=name)
    ax.axhline(gate, color="grey", linestyle=":", linewidth=1, label=f"gate floor {gate:g}")
    ax.set_xlabel("retrain generation")
    ax.set_ylabel("similarity to the originals")
    ax.set_ylim(0, 1)
    ax.set_title("Does retraining help? Active voice vs the speaker's originals")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
