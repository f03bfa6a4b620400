"""Writes of the fidelity package: fingerprints of generated audio."""

from __future__ import annotations

import logging

import numpy as np
from django.db import transaction

from clones.audio import AudioProbeError, decode_audio
from fidelity.fingerprint import FINGERPRINT_VERSION, Landmarks, landmarks
from fidelity.models import AudioFingerprint, FingerprintLandmark

logger = logging.getLogger(__name__)


def fingerprint_of_audio(audio: bytes) -> Landmarks | None:
    """Landmarks of encoded audio, or None when it does not decode (nothing to recognise then)."""
    try:
        samples, sample_rate = decode_audio(audio)
    except AudioProbeError:
        return None
    return landmarks(samples, sample_rate)


def audio_fingerprint_store(*, generated_audio, fingerprint: Landmarks) -> AudioFingerprint:
    """Keep the landmark fingerprint of one generated audio, so edited copies of it are recognised.

    Idempotent: a generated audio that already has a fingerprint keeps it (its bytes never change).
    """
    existing = AudioFingerprint.objects.filter(generated_audio=generated_audio).first()
    if existing is not None:
        return existing
    pairs = np.unique(np.stack([fingerprint.hashes, fingerprint.offsets], axis=1), axis=0)
    with transaction.atomic():
        record, created = AudioFingerprint.objects.get_or_create(
            generated_audio=generated_audio,
            defaults={
                "duration_s": round(fingerprint.duration_s, 3),
                "landmark_count": len(pairs),
                "version": FINGERPRINT_VERSION,
            },
        )
        if created:
            FingerprintLandmark.objects.bulk_create(
                (FingerprintLandmark(fingerprint=record, hash=int(h), anchor_frame=int(o)) for h, o in pairs),
                batch_size=2000,
            )
    return record
