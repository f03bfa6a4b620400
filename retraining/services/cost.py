"""What a retrain run costs at the provider: estimated at proposal, actual once it ran (issue 14, item 6).

ElevenLabs charges characters for text-to-speech and nothing for an instant-clone upload, which instead
holds a custom-voice slot (`voice_limit`). So a run's estimate lists:

- **previews**: the A/B sentence (`RETRAIN_PREVIEW_TEXT`) spoken by the active and the candidate version,
  two TTS requests, charged per character;
- **uploads**: the files, seconds and estimated bytes of the instant-clone upload (0 characters);
- **fidelity_probes**: the promotion gate's probe set (fidelity.probes) spoken by the candidate and the
  active version, charged per character (not for edit in place, which never becomes a candidate);
- **voice slots**: 1 for a run that clones a new provider voice (recreate, originals-only), 0 for edit
  in place.

The actual characters come from the provider's character-cost header the adapter records on every
rendered clip (`ClipSample.character_cost`); the actual upload is what the run recorded per clip
(`RetrainRunClip.upload_bytes`). Items other subsystems add (e.g. a fidelity probe set) appear as
further entries of `items` with their own `kind`.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum

from clones.models import ClipSample, Voice
from clones.services.selection import Selection
from fidelity.models import GateProbe
from fidelity.probes import PROBE_SENTENCES, probe_characters
from retraining.models import RetrainRun

PREVIEW_REQUESTS = 2  # the active version and the candidate (edit in place: before and after)


def retrain_run_cost_estimate(*, strategy: str, selection: Selection) -> dict:
    """The provider cost of a run with this selection, before it runs (stored as `RetrainRun.cost_estimate`)."""
    preview_chars = len(settings.RETRAIN_PREVIEW_TEXT)
    items = [
        {
            "kind": "previews",
            "description": "A/B preview sentence, spoken by the active and the candidate version",
            "requests": PREVIEW_REQUESTS,
            "characters": PREVIEW_REQUESTS * preview_chars,
        },
        {
            "kind": "upload",
            "description": "instant-clone upload of the selected clips (no characters charged)",
            "files": selection.file_count,
            "seconds": round(selection.total_duration_s, 1),
            "bytes": selection.total_bytes,
            "characters": 0,
        },
    ]
    if strategy != RetrainRun.Strategy.EDIT_IN_PLACE:
        items.insert(1, {
            "kind": "fidelity_probes",
            "description": "fidelity gate probe set, spoken by the candidate and the active version",
            "requests": PREVIEW_REQUESTS * len(PROBE_SENTENCES),
            "characters": PREVIEW_REQUESTS * probe_characters(),
        })
    return {
        "tts_characters": sum(item["characters"] for item in items),
        "voice_slots": 0 if strategy == RetrainRun.Strategy.EDIT_IN_PLACE else 1,
        "items": items,
    }


def retrain_run_cost_actual(run: RetrainRun) -> dict:
    """What the run has cost so far: characters the provider reported for its previews and its fidelity
    probes, bytes uploaded.

    `is_complete` is true once every preview (and, for a run that makes a candidate, every probe) the run
    renders is stored with its reported cost.
    """
    previews = [clip for clip in (run.preview_old_clip, run.preview_new_clip) if clip is not None and clip.file]
    reported = [clip.character_cost for clip in previews if clip.character_cost is not None]
    probe_costs = list(
        ClipSample.objects.filter(pk__in=GateProbe.objects.filter(report__run_id=run.pk).values("clip_id"))
        .exclude(file="").exclude(character_cost=None).values_list("character_cost", flat=True)
    )
    probes_expected = 0 if run.strategy == RetrainRun.Strategy.EDIT_IN_PLACE else PREVIEW_REQUESTS * len(PROBE_SENTENCES)
    if hasattr(run, "uploaded_files"):  # annotated by retraining.selectors
        uploaded = {"files": run.uploaded_files, "bytes": run.uploaded_bytes}
    else:
        uploaded = run.run_clips.exclude(upload_sha256="").aggregate(files=Count("pk"), bytes=Sum("upload_bytes"))
    items = [{"kind": "previews", "requests": len(previews), "characters": sum(reported)}]
    if probes_expected:
        items.append({"kind": "fidelity_probes", "requests": len(probe_costs), "characters": sum(probe_costs)})
    items.append({"kind": "upload", "files": uploaded["files"] or 0, "bytes": uploaded["bytes"] or 0, "characters": 0})
    return {
        "tts_characters": sum(reported) + sum(probe_costs),
        "items": items,
        "is_complete": len(reported) == PREVIEW_REQUESTS and len(probe_costs) >= probes_expected,
    }


def retrain_run_cost(run: RetrainRun) -> dict:
    """{"estimate": ..., "actual": ...} as the run's API representation and admin page show it."""
    return {"estimate": run.cost_estimate or None, "actual": retrain_run_cost_actual(run)}


def retrain_costs_by_voice(*, voices: QuerySet[Voice] | None = None) -> dict[str, dict]:
    """Per voice id: runs, estimated characters of every run, characters the provider reported for the
    runs' previews (two queries). For the admin's per-voice cost column."""
    runs = RetrainRun.objects.all() if voices is None else RetrainRun.objects.filter(voice__in=voices)
    result: dict[str, dict] = {}
    for run in runs.only("voice_id", "cost_estimate"):
        row = result.setdefault(str(run.voice_id), {"runs": 0, "estimated_characters": 0, "actual_characters": 0})
        row["runs"] += 1
        row["estimated_characters"] += int((run.cost_estimate or {}).get("tts_characters") or 0)
    preview_ids = runs.values_list("preview_old_clip_id", "preview_new_clip_id")
    ids = [pk for pair in preview_ids for pk in pair if pk is not None]
    ids += [pk for pk in GateProbe.objects.filter(report__run__in=runs).values_list("clip_id", flat=True) if pk]
    actual = (
        ClipSample.objects.filter(pk__in=ids, source=ClipSample.Source.PREVIEW)
        .values("voice_id")
        .annotate(chars=Sum("character_cost", filter=Q(character_cost__isnull=False)))
    )
    for row in actual:
        entry = result.setdefault(str(row["voice_id"]), {"runs": 0, "estimated_characters": 0,
                                                         "actual_characters": 0})
        entry["actual_characters"] = int(row["chars"] or 0)
    return result

