"""Staff-only views behind the clip admin: audio playback and waveform images.

Routed from `clones.admin.ClipSampleAdmin.get_urls` (inside `admin_site.admin_view`, so the admin's
login and staff checks apply); each view checks staff again so it is safe wherever it is routed.
"""

import mimetypes

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse

from clones.audio import AudioProbeError
from clones.models import ClipSample, ConsentRecord
from clones.services.consent import voice_audio_is_locked
from clones.waveform import CONTENT_TYPE as WAVEFORM_CONTENT_TYPE
from clones.waveform import waveform_get_or_render
from voiceclone.audio_response import audio_response


def _staff_clip(request, clip_id) -> ClipSample:
    if not (request.user.is_active and request.user.is_staff):
        raise PermissionDenied
    try:
        return ClipSample.objects.select_related("voice").only("id", "file", "content_type", "source", "original_filename", "sha256", "voice__status").get(pk=clip_id)
    except ClipSample.DoesNotExist:
        raise Http404("No such clip.") from None


def _refuse_unservable(clip: ClipSample) -> HttpResponse | None:
    """410 for the audio of a voice whose consent was revoked; 404 for a clip whose file is not stored yet."""
    if voice_audio_is_locked(clip.voice):
        return _revoked()
    if not clip.file:
        raise Http404("The clip's audio is not stored yet.")
    return None


def _revoked() -> HttpResponse:
    return HttpResponse("The speaker revoked their consent: this audio is no longer available.", status=410,
                        content_type="text/plain")


def clip_audio(request, clip_id):
    """The clip's stored audio for the admin's players (HTTP Range; presigned redirect on S3)."""
    clip = _staff_clip(request, clip_id)
    refused = _refuse_unservable(clip)
    if refused is not None:
        return refused
    return audio_response(request, name=clip.file.name, content_type=clip.content_type or "audio/mpeg")


def clip_waveform(request, clip_id):
    """The clip's cached waveform SVG, rendered from its audio on first request."""
    clip = _staff_clip(request, clip_id)
    refused = _refuse_unservable(clip)
    if refused is not None:
        return refused
    try:
        svg = waveform_get_or_render(clip)
    except AudioProbeError:
        raise Http404("The clip's audio does not decode.") from None
    response = HttpResponse(svg, content_type=WAVEFORM_CONTENT_TYPE)
    response["Cache-Control"] = "private, max-age=86400"
    # The SVG is ours (numbers only), but it is served same-origin: no scripts, whatever it holds.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def consent_recording_audio(request, record_id):
    """A consent record's recording (the speaker reading the phrase), for staff reviewing a failed check."""
    if not (request.user.is_active and request.user.is_staff):
        raise PermissionDenied
    record = ConsentRecord.objects.select_related("voice").filter(pk=record_id).first()
    if record is None or not record.statement_file:
        raise Http404("No such consent recording.")
    if voice_audio_is_locked(record.voice):
        return _revoked()
    content_type = mimetypes.guess_type(record.statement_file.name)[0] or "application/octet-stream"
    return audio_response(request, name=record.statement_file.name, content_type=content_type)
