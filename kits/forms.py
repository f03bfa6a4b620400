from django import forms

from clones.forms import ServiceErrorsMixin


class KitImportForm(ServiceErrorsMixin, forms.Form):
    kit = forms.FileField(label="Voice kit (.zip)", help_text="A voice kit exported by voiceclone, here or elsewhere.",
                          widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}))
    name = forms.CharField(max_length=100, required=False, help_text="Leave empty to keep the kit's name.")
    speaker_name = forms.CharField(max_length=200, required=False, label="Speaker’s name")
    consent = forms.BooleanField(
        label="I confirm the consent statement above for the speaker in this kit",
        error_messages={"required": "Importing a voice clones it again: the speaker’s consent is required."},
    )
