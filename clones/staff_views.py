"""Staff-only views behind the clip admin: audio playback and waveform images.

Routed from `clones.admin.ClipSampleAdmin.get_urls` (inside `admin_site.admin_view`, so the admin's
login and staff checks apply); each view checks staff again so it is safe wherever it is routed.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse

from clones.audio import AudioProbeError
from clones.models import ClipSample
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


def clip_audio(request, clip_id):
    """The clip's stored audio for the admin's players (HTTP Range; presigned redirect on S3)."""
    clip = _staff_clip(request, clip_id)
    if voice_audio_is_locked(clip.voice):
        return HttpResponse("The speaker revoked their consent: this audio is no longer available.", status=410,
                            content_type="text/plain")
    if not clip.file:
        raise Http404("The clip's audio is not stored yet.")
    return audio_response(request, name=clip.file.name, content_type=clip.content_type or "audio/mpeg")


def clip_waveform(request, clip_id):
    """The clip's cached waveform SVG, rendered from its audio on first request."""
    clip = _staff_clip(request, clip_id)
    if voice_audio_is_locked(clip.voice):
        return HttpResponse("The speaker revoked their consent: this audio is no longer available.", status=410,
                            content_type="text/plain")
    if not clip.file:
        raise Http404("The clip's audio is not stored yet.")
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

