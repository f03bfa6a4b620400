"""Seed demo data: an admin account and a demo voice cloned through the configured provider, shared
with every user so that anyone who signs up can talk with it at once (chat only: admin manages it).

The admin has the well-known demo password only with DEBUG on; with DEBUG off it is created only
with `--admin`, with a random password printed once (docs/production.md).
Idempotent: running it again keeps what exists. The demo voice's "recording" is synthesised
here with numpy (a consenting demo speaker does not exist on a fresh machine); it goes through
the same consented creation service and provider call as any upload.
"""

import io
import secrets

import numpy as np
import soundfile as sf
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from clones import services
from clones.models import Voice

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "voiceclone-demo"
DEMO_VOICE_NAME = "Ada (demo)"
DEMO_PERSONA = (
    "You are Ada, a warm and curious baker from Leeds who loves explaining how bread rises. "
    "You speak in short, friendly sentences."
)


def demo_recording(seconds: float = 8.0, sample_rate: int = 22050, seed: int = 7) -> bytes:
    """A speech-like WAV: voiced syllables (harmonics under a syllable envelope) and short pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 185 + 25 * np.sin(2 * np.pi * 0.4 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum((0.6 / k) * np.sin(k * phase) for k in range(1, 9))
    syllable = np.clip(np.sin(2 * np.pi * 3.2 * t), 0, None) ** 0.7
    pauses = (np.sin(2 * np.pi * 0.35 * t) > -0.8).astype(float)
    signal = voiced * syllable * pauses + 0.003 * rng.standard_normal(t.size)
    signal = 0.25 * signal / np.max(np.abs(signal))
    buf = io.BytesIO()
    sf.write(buf, signal.astype(np.float32), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


class Command(BaseCommand):
    help = (
        "Create the demo admin account and a demo voice (cloned through the provider) shared with every user. "
        "With --history, also a voice with enough conversations and reviewed clips to try a retrain at once. "
        "With DEBUG off the admin is made only with --admin, and then with a random password printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--history", action="store_true",
                            help="Also seed a voice with conversations and reviewed clips, ready to retrain.")
        parser.add_argument(
            "--admin", action="store_true",
            help="Create the demo admin even with DEBUG off (with a random password, printed once).",
        )

    def handle(self, *args, history=False, **options):
        user, password = self._demo_admin(create_without_debug=options["admin"])
        if user is None:
            self.stdout.write(
                "DEBUG is off: no demo admin created (a well-known password has no place in production). "
                "Run `manage.py demo --admin` for one with a random password, or `manage.py createsuperuser`."
            )
            return
        # A disabled demo voice, or one whose (synthetic) speaker's consent staff revoked, never speaks again:
        # a new one is made, or bin/run, which runs this at every start, could not start any more.
        voice = (Voice.objects.filter(owner=user, name=DEMO_VOICE_NAME)
                 .exclude(status__in=(Voice.Status.DISABLED, Voice.Status.REVOKED)).first())
        if voice is None:
            voice = services.voice_create(
                owner=user,
                name=DEMO_VOICE_NAME,
                persona=DEMO_PERSONA,
                language="en",
                samples=[services.SampleUpload(filename="ada-demo.wav", data=demo_recording())],
                consent=True,
                via="system", paced=False,
                speaker_name="Ada (synthetic demo speaker)",
            )
        if voice.status in (Voice.Status.CREATING, Voice.Status.FAILED):
            if voice.status == Voice.Status.FAILED:
                services.voice_retry(voice=voice)
            # Run the provider step here rather than waiting for the cluster: the demo is ready at once.
            voice = services.voice_provider_create(voice_id=voice.pk)
        if voice.status != Voice.Status.READY:
            raise CommandError(f"The demo voice could not be created: {voice.failure_reason}")
        services.voice_share(voice=voice, is_shared=True)
        login = f"Demo login: {DEMO_USERNAME} / {password}" if password else f"Demo admin: {DEMO_USERNAME}"
        self.stdout.write(
            f"{login}  —  demo voice “{voice.name}” "
            f"v{voice.current_version.number}, shared with every user "
            f"(provider voice {voice.current_version.provider_voice_id})"
        )
        if history:
            self._history(user)

    def _history(self, user):
        """`--history` (issue 12): see voiceclone/management/demo_history.py."""
        from voiceclone.management.demo_history import demo_history_seed

        try:
            result = demo_history_seed(owner=user)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"History voice “{result.voice.name}”: {result.conversations} conversations, {result.approved} "
            f"approved, {result.rejected} rejected and {result.pending} pending clips. Try a retrain: "
            "/admin/retraining/retrainrun/eligibility/ → Propose → Approve → listen to the A/B preview → Promote."
        )

    def _demo_admin(self, *, create_without_debug: bool):
        """(user, the well-known password when the admin still has it) — or (None, None) when none is made.

        With DEBUG the admin gets the well-known demo password. Without, it is created only on request
        and with a random password; an admin left with the demo password (a database first used with
        DEBUG on) gets a random one too. The random password is printed here and stored nowhere else.
        """
        User = get_user_model()
        user = User.objects.filter(username=DEMO_USERNAME).first()
        if settings.DEBUG:
            if user is None:
                user = User.objects.create_superuser(DEMO_USERNAME, "admin@example.com", DEMO_PASSWORD)
            return user, DEMO_PASSWORD if user.check_password(DEMO_PASSWORD) else None
        if user is None and not create_without_debug:
            return None, None
        if user is not None and not user.check_password(DEMO_PASSWORD):
            return user, None
        password = secrets.token_urlsafe(18)
        if user is None:
            user = User.objects.create_superuser(DEMO_USERNAME, "admin@example.com", password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        self.stdout.write(f"Demo admin: {DEMO_USERNAME} / {password}  (random; shown only now, change it after signing in)")
        return user, None
