"""Page forms for conversations. They check shape only; conversations.services decides the rest."""

from django import forms

from clones.forms import ServiceErrorsMixin
from clones.selectors import voice_list_usable_for_user


class VoiceChoiceField(forms.ModelChoiceField):
    user_id = None  # set by the form: voices shared by others are labelled as such

    def label_from_instance(self, voice):
        return voice.name if voice.owner_id == self.user_id else f"{voice.name} (shared)"


class ConversationCreateForm(ServiceErrorsMixin, forms.Form):
    voice = VoiceChoiceField(
        queryset=None,
        widget=forms.RadioSelect,
        empty_label=None,
        error_messages={"invalid_choice": "Pick one of your ready voices or a shared one."},
    )
    title = forms.CharField(max_length=200, required=False, help_text="Optional; helps you find it later.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["voice"].queryset = voice_list_usable_for_user(user=user).order_by("name")
        self.fields["voice"].user_id = user.pk


class MessageForm(ServiceErrorsMixin, forms.Form):
    """The chat box. Without JavaScript it posts to the page; with it, chat.js uses the API."""

    text = forms.CharField(
        max_length=2000,
        label="Message",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Say something…"}),
    )
