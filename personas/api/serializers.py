from rest_framework import serializers

from personas.models import PersonaDraft, PersonaVersion
from personas.services import persona_draft_unified_diff


class PersonaVersionOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="author", read_only=True)
    restored_version = serializers.IntegerField(source="based_on.number", default=None, read_only=True)

    class Meta:
        model = PersonaVersion
        fields = ["number", "text", "source", "created_by", "created_at", "restored_version"]


class PersonaDraftOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    decided_by = serializers.CharField(source="decided_by.username", default=None, read_only=True)
    base_version = serializers.IntegerField(source="base_version.number", default=None, read_only=True)
    accepted_version = serializers.IntegerField(source="accepted_version.number", default=None, read_only=True)
    diff = serializers.SerializerMethodField(help_text="Unified diff of the draft against the persona it improves.")

    class Meta:
        model = PersonaDraft
        fields = ["id", "status", "is_offline", "engine", "notes", "base_version", "base_text", "text", "diff",
                  "stats", "failure_reason", "created_by", "created_at", "decided_by", "decided_at",
                  "accepted_version"]

    def get_diff(self, obj) -> str:
        return persona_draft_unified_diff(obj) if obj.text else ""


class PersonaDraftAcceptInputSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=False, trim_whitespace=True,
                                 help_text="Your edit of the draft; default: the draft as written.")
