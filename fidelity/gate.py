"""The promotion gate (issue 10 item 3): does a retrained candidate still sound like the speaker?

When a run reaches `candidate`, `gate_report_start` (called by the run task in the transaction that makes it a
candidate) writes a pending GateReport and enqueues `fidelity.tasks.fidelity_gate_evaluate`. The task renders
the fixed probe set (fidelity.probes) with the candidate and with the active version through the provider
adapter, stores each probe as a preview clip (registered as generated audio: never accepted as a sample),
transcribes each with the provider's speech-to-text, and compares both sides against the voice's originals:

- speaker similarity (fidelity.similarity) of the pooled probes, candidate vs originals and active vs originals;
- speech-to-text round-trip WER (fidelity.wer) per side;
- prosody (fidelity.prosody): pitch range, energy range and speaking rate, candidate vs active.

`gate_verdict` turns the numbers into pass/fail with reasons (thresholds: FIDELITY_GATE_* settings).
`retraining.services.retrain_run_promote` asks `gate_promotion_check` before promoting: a failing or
pending candidate is refused (409 `fidelity_gate_failed` / `fidelity_gate_pending`) unless staff give an
override reason, which `gate_override_record` keeps (who, when, why), emits as `retrain.gate_overridden`
and writes to the audit log.

Provider calls follow intent → call → outcome: a GateProbe row exists before its TTS call and records the
clip after, so a retried task renders only what is missing. The task claims the report with a conditional
update (a lease), so two workers never render at once.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clones import storage
from clones.audio import AudioProbeError, decode_audio, probe_and_decode
from clones.models import ClipSample, VoiceVersion
from fidelity.features import NotEnoughVoice, VoiceFeatures, voice_features
from fidelity.models import GateProbe, GateReport
from fidelity.probes import PROBE_SENTENCES, PROBE_SET_VERSION, probe_characters
from fidelity.prosody import measure_prosody
from fidelity.similarity import speaker_similarity, voice_profile
from fidelity.wer import transcript_wer
from voiceclone import provider
from voiceclone.background import enqueue_on_commit
from voiceclone.errors import ApplicationError
from voiceclone.events.models import Event
from voiceclone.events.services import event_emit

logger = logging.getLogger(__name__)

EVALUATE_TASK = "fidelity.tasks.fidelity_gate_evaluate"
Verdict = GateReport.Verdict
Side = GateProbe.Side


class FidelityGateFailed(ApplicationError):
    status_code = 409
    default_code = "fidelity_gate_failed"


class FidelityGatePending(ApplicationError):
    status_code = 409
    default_code = "fidelity_gate_pending"


class OverrideNotAllowed(ApplicationError):
    status_code = 403
    default_code = "override_not_allowed"


# --- starting, and what the API shows --------------------------------------------------------------------


def gate_report_start(*, run) -> GateReport:
    """A pending report for a run that just became a candidate, and its evaluation enqueued on commit.

    Call inside the transaction that makes the run a candidate. Idempotent: an existing report is reset to
    pending only when it was made with another probe set (its probes are kept; new ones are rendered)."""
    report, created = GateReport.objects.get_or_create(run=run, defaults={"probe_set_version": PROBE_SET_VERSION})
    if created or report.verdict == Verdict.PENDING:
        enqueue_on_commit(EVALUATE_TASK, run.pk)
    return report


def gate_reports_resume(*, now=None) -> list[int]:
    """Re-enqueue evaluations a lost task or a provider outage left pending (the retrain minute sweep calls
    this), and start a report for any candidate without one. Returns the run ids enqueued."""
    from retraining.models import RetrainRun

    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.RETRAIN_RUN_LEASE_S)
    candidates = RetrainRun.objects.filter(state=RetrainRun.State.CANDIDATE)
    run_ids = list(
        candidates.filter(
            Q(fidelity_report__isnull=True)
            | Q(fidelity_report__verdict=Verdict.PENDING, fidelity_report__updated_at__lt=stale)
        ).values_list("pk", flat=True)
    )
    from django_q.tasks import async_task

    for run_id in run_ids:
        async_task(EVALUATE_TASK, run_id)
    return run_ids


def gate_fidelity_summary(run) -> dict:
    """The run's `fidelity` for the API: verdict, both similarities, the candidate's WER, reasons.
    Uses the run's cached report when the selector joined it (retraining.selectors)."""
    try:
        report = run.fidelity_report
    except GateReport.DoesNotExist:
        report = None
    if report is None:
        return {"verdict": Verdict.PENDING.value, "similarity": None, "active_similarity": None, "wer": None,
                "active_wer": None, "reasons": [], "probe_characters": 2 * probe_characters(),
                "override": None}
    return {
        "verdict": report.verdict,
        "similarity": report.similarity,
        "active_similarity": report.active_similarity,
        "wer": report.wer,
        "active_wer": report.active_wer,
        "reasons": report.reasons,
        "probe_characters": report.character_cost or 2 * probe_characters(),
        "override": (
            {"reason": report.override_reason, "by": report.overridden_by.username if report.overridden_by else None,
             "at": report.overridden_at.isoformat()} if report.is_overridden else None
        ),
    }


# --- promotion --------------------------------------------------------------------------------------------


def gate_promotion_check(*, run, override_reason: str = "", by=None) -> bool:
    """Raise unless the gate lets `run` be promoted: FidelityGateFailed (with the reasons in `extra`) for a
    failing candidate, FidelityGatePending while it is being measured, OverrideNotAllowed when a non-staff
    caller gives an override reason. A staff override lets both through: returns True then (record it with
    `gate_override_record`), False when the candidate passed."""
    report = GateReport.objects.filter(run_id=run.pk).first()
    override_reason = (override_reason or "").strip()
    if report is not None and report.verdict == Verdict.PASS:
        return False
    if override_reason:
        if by is None or not (by.is_active and by.is_staff):
            raise OverrideNotAllowed("Only staff may override the fidelity gate.")
        return True
    if report is None or report.verdict == Verdict.PENDING:
        raise FidelityGatePending(
            "The fidelity gate has not finished measuring this candidate (probe set, similarity, WER, prosody); "
            "promote when it has, or override with a written reason.",
            extra={"verdict": Verdict.PENDING.value, "reasons": report.reasons if report else []},
        )
    raise FidelityGateFailed(
        "The candidate failed the fidelity gate: " + " ".join(r["message"] for r in report.reasons)
        + " Staff may override with a written reason.",
        extra={"verdict": report.verdict, "reasons": report.reasons, "similarity": report.similarity,
               "active_similarity": report.active_similarity, "wer": report.wer},
    )


def gate_override_record(*, run, by, reason: str) -> GateReport:
    """Keep a staff override (who, when, why) on the run's report, emit `retrain.gate_overridden` and write
    the audit entry. Call inside the promotion's transaction, after `gate_promotion_check` allowed it."""
    from audit.services import audit_record

    report, _ = GateReport.objects.get_or_create(run=run, defaults={"probe_set_version": PROBE_SET_VERSION})
    now = timezone.now()
    report.override_reason = reason.strip()
    report.overridden_by = by
    report.overridden_at = now
    report.save(update_fields=["override_reason", "overridden_by", "overridden_at", "updated_at"])
    payload = {"run_id": run.pk, "verdict": report.verdict, "reasons": report.reasons,
               "override_reason": report.override_reason, "overridden_by": by.username,
               "overridden_at": now.isoformat()}
    event_emit(type=Event.Type.RETRAIN_GATE_OVERRIDDEN, user=run.voice.owner, voice=run.voice, payload=payload)
    audit_record(actor=by, action="retrain.gate_overridden", obj=run,
                 data={"verdict": report.verdict, "reasons": [r["code"] for r in report.reasons],
                       "override_reason": report.override_reason})
    return report


# --- the verdict ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SideMeasures:
    """One side's probe set, measured: similarity to the originals, WER, prosody."""

    similarity: float | None
    wer: float | None
    pitch_range_st: float | None
    energy_range_db: float | None
    speaking_rate_cps: float | None
    components: dict | None = None
    pitch_median_hz: float | None = None

    def as_dict(self) -> dict:
        return {
            "similarity": self.similarity, "wer": self.wer, "pitch_range_st": self.pitch_range_st,
            "energy_range_db": self.energy_range_db, "speaking_rate_cps": self.speaking_rate_cps,
            "pitch_median_hz": self.pitch_median_hz, "components": self.components or {},
        }


def gate_verdict(candidate: SideMeasures, active: SideMeasures | None,
                 baseline: SideMeasures | None = None, baseline_version: int | None = None) -> tuple[str, list[dict]]:
    """pass/fail and the reasons, from the sides' measures (pure: no I/O). Every rule compares with the
    active version where there is one, so a candidate at least as good as what is live never fails a rule.

    `baseline` is the voice's reference cloned from originals alone (see `_baseline_probes`), when it is not
    the active version. The same thresholds then hold against it too, so drift cannot pass in steps: a
    candidate 20 % flatter than an active version that is itself 20 % flatter than the baseline passes the
    step-wise rule and fails this one (64 % of the baseline's range, under FIDELITY_GATE_MIN_PROSODY_RATIO)."""
    reasons = []

    def add(code, message):
        reasons.append({"code": code, "message": message})

    floor = settings.FIDELITY_GATE_MIN_SIMILARITY
    drop = settings.FIDELITY_GATE_MAX_SIMILARITY_DROP
    cand_sim = candidate.similarity
    act_sim = active.similarity if active else None
    if cand_sim is None:
        add("not_measurable", "The candidate's probes hold too little voiced speech to measure.")
    else:
        if cand_sim < floor and (act_sim is None or cand_sim < act_sim):
            add("similarity_below_floor",
                f"Similarity to the originals is {cand_sim:.2f}, below {floor:.2f} (FIDELITY_GATE_MIN_SIMILARITY)"
                + (f"; the active version scores {act_sim:.2f}." if act_sim is not None else "."))
        if act_sim is not None and act_sim - cand_sim > drop:
            add("similarity_dropped",
                f"Similarity to the originals fell from {act_sim:.2f} (active) to {cand_sim:.2f}, more than "
                f"{drop:.2f} (FIDELITY_GATE_MAX_SIMILARITY_DROP).")
    max_wer = settings.FIDELITY_GATE_MAX_WER
    if candidate.wer is not None and candidate.wer > max_wer and (
        active is None or active.wer is None or candidate.wer > active.wer
    ):
        add("wer_too_high",
            f"Speech-to-text round trip: {candidate.wer:.0%} of words wrong, above {max_wer:.0%} "
            f"(FIDELITY_GATE_MAX_WER)" + (f"; the active version: {active.wer:.0%}." if active and active.wer is not None
                                         else "."))
    if active is not None:
        ratio = settings.FIDELITY_GATE_MIN_PROSODY_RATIO
        for field, label, unit in (("pitch_range_st", "Pitch range", "st"), ("energy_range_db", "Energy range", "dB")):
            c, a = getattr(candidate, field), getattr(active, field)
            if c is not None and a is not None and a > 0 and c < ratio * a:
                add(f"{field.rsplit('_', 1)[0]}_narrowed",
                    f"{label} narrowed to {c:.1f} {unit} from {a:.1f} {unit} (active), under {ratio:.0%} of it "
                    f"(FIDELITY_GATE_MIN_PROSODY_RATIO): the voice is going flat.")
        c, a = candidate.speaking_rate_cps, active.speaking_rate_cps
        change = settings.FIDELITY_GATE_MAX_RATE_CHANGE
        if c is not None and a is not None and a > 0 and abs(c / a - 1) > change:
            add("speaking_rate_changed",
                f"Speaking rate {c:.1f} characters/s against {a:.1f} (active), a change over {change:.0%} "
                f"(FIDELITY_GATE_MAX_RATE_CHANGE).")
    if baseline is not None:
        reasons += _drift_from_baseline(candidate, baseline, baseline_version)
    return (Verdict.FAIL.value if reasons else Verdict.PASS.value), reasons


def _drift_from_baseline(candidate: SideMeasures, baseline: SideMeasures, number: int | None) -> list[dict]:
    """The step-wise rules, held against the voice's originals-only reference instead of the active version."""
    label = f"v{number}, cloned from the originals alone" if number else "the originals-only reference"
    reasons = []
    drop = settings.FIDELITY_GATE_MAX_SIMILARITY_DROP
    if candidate.similarity is not None and baseline.similarity is not None \
            and baseline.similarity - candidate.similarity > drop:
        reasons.append({"code": "similarity_drifted", "message": (
            f"Similarity to the originals is {candidate.similarity:.2f} against {baseline.similarity:.2f} for "
            f"{label}: a drift over {drop:.2f} (FIDELITY_GATE_MAX_SIMILARITY_DROP) across retrains.")})
    ratio = settings.FIDELITY_GATE_MIN_PROSODY_RATIO
    for field, name, unit in (("pitch_range_st", "Pitch range", "st"), ("energy_range_db", "Energy range", "dB")):
        c, b = getattr(candidate, field), getattr(baseline, field)
        if c is not None and b is not None and b > 0 and c < ratio * b:
            reasons.append({"code": f"{field.rsplit('_', 1)[0]}_drifted", "message": (
                f"{name} is {c:.1f} {unit} against {b:.1f} {unit} for {label}, under {ratio:.0%} of it "
                f"(FIDELITY_GATE_MIN_PROSODY_RATIO): retrains have flattened the voice step by step.")})
    c, b = candidate.speaking_rate_cps, baseline.speaking_rate_cps
    change = settings.FIDELITY_GATE_MAX_RATE_CHANGE
    if c is not None and b is not None and b > 0 and abs(c / b - 1) > change:
        reasons.append({"code": "speaking_rate_drifted", "message": (
            f"Speaking rate {c:.1f} characters/s against {b:.1f} for {label}, a change over {change:.0%} "
            f"(FIDELITY_GATE_MAX_RATE_CHANGE) across retrains.")})
    return reasons


# --- the task ---------------------------------------------------------------------------------------------


def fidelity_gate_evaluate(*, run_id: int) -> GateReport | None:
    """Render and measure the probe set for a candidate run and store the verdict (the gate task).

    Idempotent and safe to retry: returns None when the run is not a candidate or another worker holds the
    report; a report with a verdict is returned as is. A provider failure leaves the report pending with
    the error (the retrain minute sweep re-enqueues it); probes already rendered are never paid again.
    Emits `retrain.gate_evaluated` with the verdict.
    """
    from retraining.models import RetrainRun

    run = RetrainRun.objects.select_related("voice__owner", "voice__current_version", "new_version",
                                            "old_version").filter(pk=run_id).first()
    if run is None or run.state != RetrainRun.State.CANDIDATE or run.new_version is None:
        return None
    report, _ = GateReport.objects.get_or_create(run=run, defaults={"probe_set_version": PROBE_SET_VERSION})
    if report.verdict != Verdict.PENDING:
        return report
    if not _claim(report):
        return None
    active = run.voice.current_version or run.old_version
    if active is not None and active.pk == run.new_version_id:
        active = run.old_version
    try:
        sides = [(Side.CANDIDATE, run.new_version)] + ([(Side.ACTIVE, active)] if active is not None else [])
        for side, version in sides:
            _render_side(report, side=side, version=version)
    except provider.ProviderError as exc:
        logger.warning("fidelity gate of run %s: provider failed: %s", run.pk, exc)
        GateReport.objects.filter(pk=report.pk).update(
            error=f"The provider failed while rendering the probe set: {exc.message}", claimed_at=None,
            updated_at=timezone.now(),
        )
        return GateReport.objects.get(pk=report.pk)
    return _decide(run, report)


def _claim(report: GateReport) -> bool:
    now = timezone.now()
    lease = now - timedelta(seconds=settings.RETRAIN_RUN_LEASE_S)
    return bool(
        GateReport.objects.filter(pk=report.pk, verdict=Verdict.PENDING)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=lease))
        .update(claimed_at=now, updated_at=now)
    )


def _render_side(report: GateReport, *, side: str, version: VoiceVersion) -> None:
    for index, text in enumerate(PROBE_SENTENCES):
        probe, _ = GateProbe.objects.get_or_create(
            report=report, side=side, index=index, defaults={"version": version, "text": text}
        )
        if probe.version_id != version.pk or probe.text != text:
            # The active version changed (a rollback) or the probe set did: measure what is live now.
            GateProbe.objects.filter(pk=probe.pk).update(version=version, text=text, clip=None, transcript="",
                                                         is_transcribed=False, features={}, prosody={})
            probe.refresh_from_db()
        if probe.clip_id is None or not probe.clip.file:
            _render_probe(probe, version=version)
            probe.refresh_from_db()
        audio = storage.read_bytes(probe.clip.file.name)
        if not probe.is_transcribed:
            result = provider.stt(audio=audio, filename=f"probe{index}.mp3", content_type=probe.clip.content_type)
            GateProbe.objects.filter(pk=probe.pk).update(transcript=result.text, is_transcribed=True)
        if not probe.features:
            _measure_probe(probe, audio)


def _render_probe(probe: GateProbe, *, version: VoiceVersion) -> None:
    from clones.services.clips import preview_clip_store

    result = provider.tts(voice_id=version.provider_voice_id, text=probe.text)
    try:
        info, _ = probe_and_decode(result.audio, filename="probe.mp3")
    except AudioProbeError:
        info = None
    preview_clip_store(voice_id=version.voice_id, version=version, text=probe.text, result=result, info=info,
                       existing=lambda: probe.clip,
                       attach=lambda clip: GateProbe.objects.filter(pk=probe.pk).update(clip=clip))


def _measure_probe(probe: GateProbe, audio: bytes) -> None:
    try:
        samples, rate = decode_audio(audio)
    except AudioProbeError:
        GateProbe.objects.filter(pk=probe.pk).update(features={"error": "undecodable"})
        return
    try:
        features = voice_features(samples, rate).as_dict()
    except NotEnoughVoice as exc:
        features = {"error": str(exc)}
    prosody = measure_prosody(samples, rate, text=probe.text)
    GateProbe.objects.filter(pk=probe.pk).update(features=features, prosody=asdict(prosody))


def _baseline_probes(run, *, active_version: VoiceVersion | None) -> list[GateProbe]:
    """The probe set measured for the voice's reference: its newest version older than the candidate that was
    cloned from originals alone (training lineage 0: the first version, or an originals-only re-clone), as an
    earlier gate report stored it (the version may be gone from the provider since). Empty when that version
    is the active one (the step-wise rules already compare with it) or was never measured with this probe set."""
    probes = (GateProbe.objects.select_related("version")
              .filter(report__run__voice_id=run.voice_id, version__training_lineage_depth=0,
                      version__number__lt=run.new_version.number)
              .exclude(features={}).order_by("-version__number", "-report_id", "index"))
    newest = probes.first()
    if newest is None or (active_version is not None and newest.version_id == active_version.pk):
        return []
    same = [p for p in probes.filter(version_id=newest.version_id, report_id=newest.report_id)
            if p.index < len(PROBE_SENTENCES) and p.text == PROBE_SENTENCES[p.index]]
    return same


def originals_features(voice) -> list[VoiceFeatures]:
    """Features of the voice's original recordings in use (not retired, stored), skipping unmeasurable ones."""
    found = []
    originals = ClipSample.objects.filter(voice=voice, source=ClipSample.Source.ORIGINAL, retired_at__isnull=True)
    for clip in originals.exclude(file="").order_by("created_at", "pk"):
        try:
            samples, rate = decode_audio(storage.read_bytes(clip.file.name))
            found.append(voice_features(samples, rate))
        except (AudioProbeError, NotEnoughVoice, OSError) as exc:
            logger.info("original %s of voice %s not measurable: %s", clip.pk, voice.pk, exc)
    return found


def side_measures(probes: list[GateProbe], profile) -> SideMeasures:
    """Pool one side's probes into its measures against the originals' profile (None where unmeasurable)."""
    feats = [VoiceFeatures.from_dict(p.features) for p in probes if p.features and "error" not in p.features]
    similarity = components = None
    if feats and profile is not None:
        result = speaker_similarity(feats, profile)
        similarity, components = result.score, result.components
    transcribed = [p for p in probes if p.is_transcribed]
    wer = transcript_wer([p.text for p in transcribed], [p.transcript for p in transcribed]) if transcribed else None

    def median(key):
        values = [p.prosody.get(key) for p in probes if p.prosody and p.prosody.get(key) is not None]
        return round(statistics.median(values), 2) if values else None

    letters = sum(sum(ch.isalnum() for ch in p.text) for p in probes if p.prosody)
    speech_s = sum(p.prosody.get("speech_s") or 0 for p in probes if p.prosody)
    return SideMeasures(
        similarity=similarity, wer=wer, pitch_range_st=median("pitch_range_st"),
        energy_range_db=median("energy_range_db"),
        speaking_rate_cps=round(letters / speech_s, 2) if speech_s else None,
        components=components, pitch_median_hz=median("pitch_median_hz"),
    )


def _decide(run, report: GateReport) -> GateReport:
    probes = list(report.probes.select_related("clip", "version").order_by("side", "index"))
    originals = originals_features(run.voice)
    profile = voice_profile(originals) if originals else None
    by_side = {side: [p for p in probes if p.side == side] for side in (Side.CANDIDATE, Side.ACTIVE)}
    candidate = side_measures(by_side[Side.CANDIDATE], profile)
    active = side_measures(by_side[Side.ACTIVE], profile) if by_side[Side.ACTIVE] else None
    active_version = by_side[Side.ACTIVE][0].version if by_side[Side.ACTIVE] else None
    baseline_probes = _baseline_probes(run, active_version=active_version)
    baseline = side_measures(baseline_probes, profile) if baseline_probes else None
    baseline_number = baseline_probes[0].version.number if baseline_probes else None
    if profile is None:
        verdict, reasons = Verdict.FAIL.value, [{
            "code": "no_originals",
            "message": "The voice has no measurable original recording to compare with.",
        }]
    else:
        verdict, reasons = gate_verdict(candidate, active, baseline, baseline_number)
    cost = sum(p.clip.character_cost or 0 for p in probes if p.clip is not None)
    versions = {side: (ps[0].version.number if ps else None) for side, ps in by_side.items()}
    metrics = {
        "candidate": {**candidate.as_dict(), "version": versions[Side.CANDIDATE]},
        "active": {**active.as_dict(), "version": versions[Side.ACTIVE]} if active else None,
        "baseline": {**baseline.as_dict(), "version": baseline_number} if baseline else None,
        "originals": {"count": len(originals), "voiced_s": round(sum(f.voiced_s for f in originals), 1)},
        "thresholds": {
            "min_similarity": settings.FIDELITY_GATE_MIN_SIMILARITY,
            "max_similarity_drop": settings.FIDELITY_GATE_MAX_SIMILARITY_DROP,
            "max_wer": settings.FIDELITY_GATE_MAX_WER,
            "min_prosody_ratio": settings.FIDELITY_GATE_MIN_PROSODY_RATIO,
            "max_rate_change": settings.FIDELITY_GATE_MAX_RATE_CHANGE,
        },
        "probes": [{"side": p.side, "index": p.index, "text": p.text, "transcript": p.transcript,
                    "clip_id": p.clip_id} for p in probes],
    }
    with transaction.atomic():
        updated = GateReport.objects.filter(pk=report.pk, verdict=Verdict.PENDING).update(
            verdict=verdict, reasons=reasons, similarity=candidate.similarity,
            active_similarity=active.similarity if active else None, wer=candidate.wer,
            active_wer=active.wer if active else None, metrics=metrics, character_cost=cost, error="",
            computed_at=timezone.now(), claimed_at=None, probe_set_version=PROBE_SET_VERSION,
            updated_at=timezone.now(),
        )
        report = GateReport.objects.get(pk=report.pk)
        if updated:
            event_emit(type=Event.Type.RETRAIN_GATE_EVALUATED, user=run.voice.owner, voice=run.voice, payload={
                "run_id": run.pk, "verdict": verdict, "similarity": report.similarity,
                "active_similarity": report.active_similarity, "wer": report.wer,
                "reasons": [r["code"] for r in reasons],
            })
    return report
