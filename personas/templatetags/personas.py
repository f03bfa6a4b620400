"""`{% persona_panel voice %}`: the persona history and the open draft on a voice's page."""

from django import template

from personas import selectors, services

register = template.Library()

VERSIONS_SHOWN = 10


@register.inclusion_tag("personas/_panel.html", takes_context=True)
def persona_panel(context, voice):
    versions = list(selectors.persona_versions_for_voice(voice=voice)[:VERSIONS_SHOWN])
    draft = selectors.persona_drafts_for_voice(voice=voice).first()
    return {
        "voice": voice,
        "versions": versions,
        "current_number": versions[0].number if versions else None,
        "draft": draft,
        "diff": services.persona_draft_diff(draft) if draft is not None and draft.text else [],
        "csrf_token": context.get("csrf_token"),
        "can_edit": voice.status != "disabled",
    }
