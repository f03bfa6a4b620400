"""`{% local_time value "time" %}`: one <time> element that every page shows in the reader's own zone.

The server renders the instant in TIME_ZONE as a fallback; static/js/local_time.js rewrites every
`<time data-local>` in the browser's time zone and locale with one formatter, so the chat page, the voice
pages and the conversation list always agree ("10:14 AM" everywhere, never "10:13" on one page and
"10:14 AM" on the next). chat.js formats the messages it adds with the same function.
"""

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

register = template.Library()

# Server-side fallbacks (no JavaScript), in the same shape as the browser's output.
_FALLBACK = {"time": "H:i", "date": "j M Y", "datetime": "j M Y, H:i", "auto": "H:i"}


@register.simple_tag
def local_time(value, style: str = "datetime"):
    """style: time, date, datetime, or auto (the time today, the date and time on other days)."""
    if value is None:
        return ""
    if style not in _FALLBACK:
        raise template.TemplateSyntaxError(f"local_time style must be one of {sorted(_FALLBACK)}")
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return format_html(
        '<time datetime="{}" data-local="{}">{}</time>', value.isoformat(), style, date_format(local, _FALLBACK[style])
    )
