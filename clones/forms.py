"""Page forms for voices. They check shape only; clones.services decides what is acceptable."""

from django import forms
from django.core.exceptions import ValidationError

LANGUAGE_CHOICES = [
    ("en", "English"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("de", "German"),
    ("it", "Italian"),
    ("pt", "Portuguese"),
    ("nl", "Dutch"),
    ("pl", "Polish"),
    ("sv", "Swedish"),
    ("hi", "Hindi"),
    ("ja", "Japanese"),
    ("zh", "Chinese"),
]

PERSONA_HELP = (
    "Describe who the clone is and how it talks: background, personality, typical phrases, topics it "
    "likes, and anything it should avoid. This becomes the instruction for every reply. "
    "Example: “You are Ada, a cheerful baker from Leeds. You speak warmly, in short sentences, and love "
    "talking about bread.”"
)


class ServiceErrorsMixin:
    """Show a service's ValidationError on the form: known keys on their field, the rest on top."""

    def add_service_errors(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc.messages)
            return
        for field, messages in exc.message_dict.items():
            self.add_error(field if field in self.fields else None, messages)


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A list of uploaded files. Content checks (audio format, length, size) are the service's."""

    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = [f for f in (data if isinstance(data, (list, tuple)) else [data]) if f]
        if not files:
            if self.required:
                raise ValidationError(self.error_messages["required"], code="required")
            return []
        cleaned, errors = [], []
        for uploaded in files:
            try:
                cleaned.append(super().clean(uploaded, initial))
            except ValidationError as exc:
                name = getattr(uploaded, "name", "file")
                errors.extend(f"{name}: {message}" for message in exc.messages)
        if errors:
            raise ValidationError(errors)
        return cleaned


class ConsentRecordingFields(forms.Form):
    """The recorded consent phrase: the speaker reads the generated phrase; the recording is the consent."""

    consent_recording = forms.FileField(
        required=False, label="Recording of the consent phrase",
        widget=forms.FileInput(attrs={"accept": "audio/*"}),
        help_text="The speaker reads the phrase above aloud (record it here, or upload a recording of it).",
    )
    consent_token = forms.CharField(required=False, widget=forms.HiddenInput, max_length=1000)


class VoiceCreateForm(ServiceErrorsMixin, ConsentRecordingFields):
    name = forms.CharField(max_length=100, help_text="How you will find this voice, e.g. “Grandma Ada”.")
    persona = forms.CharField(
        max_length=4000, widget=forms.Textarea(attrs={"rows": 6}), help_text=PERSONA_HELP
    )
    language = forms.ChoiceField(choices=LANGUAGE_CHOICES, initial="en", help_text="The language the clone speaks.")
    speaker_name = forms.CharField(
        max_length=200,
        required=False,
        label="Speaker’s name",
        help_text="The person whose voice is in the recordings (recorded with the consent).",
    )
    samples = MultipleFileField(
        label="Recordings",
        widget=MultipleFileInput(attrs={"accept": "audio/*"}),
        help_text=(
            "1–25 clear recordings of the speaker alone (WAV, MP3, M4A, OGG or WebM), ideally a few minutes "
            "in total."
        ),
    )
    consent = forms.BooleanField(
        label="I confirm the consent statement above",
        error_messages={"required": "Cloning a voice requires the speaker’s consent: tick the box."},
    )


class VoiceUpdateForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=100)
    persona = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 6}), help_text=PERSONA_HELP)


class OriginalsAddForm(ServiceErrorsMixin, ConsentRecordingFields):
    """More consented recordings of the same speaker, for an existing voice (issue 14)."""

    speaker_name = forms.CharField(
        max_length=200, required=False, label="Speaker’s name",
        help_text="The person whose voice is in the recordings (recorded with the consent).",
    )
    samples = MultipleFileField(
        label="Recordings",
        widget=MultipleFileInput(attrs={"accept": "audio/*"}),
        help_text="Clear recordings of the same speaker alone (WAV, MP3, M4A, OGG or WebM). They are used from "
                  "the next retrain or re-clone.",
    )
    consent = forms.BooleanField(
        label="I confirm the consent statement above for these recordings",
        error_messages={"required": "Adding recordings requires the speaker’s consent: tick the box."},
    )


class RemoteConsentForm(ServiceErrorsMixin, ConsentRecordingFields):
    """The remote speaker's page: only the recording of the phrase (and its token)."""


class ConsentLinkForm(ServiceErrorsMixin, forms.Form):
    speaker_name = forms.CharField(max_length=200, label="Speaker’s name",
                                   help_text="Who will open the link and record their consent.")


class ConsentRevokeForm(ServiceErrorsMixin, forms.Form):
    reason = forms.CharField(max_length=500, required=False, label="Reason (optional)")
    confirm = forms.BooleanField(label="I understand: the voice stops for good and its provider voices are deleted.",
                                 error_messages={"required": "Tick the box to revoke the consent."})
