"""Small inline SVG charts for the admin: the gate's numbers beside the A/B players, and a voice's similarity
over time across versions. Plain SVG (no script, no CDN); every value is escaped by format_html."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

BAR_W, ROW_H, LABEL_W = 220, 18, 150
CANDIDATE_COLOUR, ACTIVE_COLOUR, LIMIT_COLOUR = "#417690", "#aaaaaa", "#ba2121"


def gate_chart_svg(metrics: dict) -> str:
    """Bars for candidate vs active: similarity to the originals (0–1, with the floor), WER (0–1), and pitch
    range, energy range and speaking rate as a share of the active version's (1 = unchanged)."""
    candidate = metrics.get("candidate") or {}
    active = metrics.get("active") or {}
    limits = metrics.get("thresholds") or {}
    rows = [("similarity", "Similarity", 1.0, limits.get("min_similarity")),
            ("wer", "WER", 1.0, limits.get("max_wer"))]
    for key, label in (("pitch_range_st", "Pitch range"), ("energy_range_db", "Energy range"),
                       ("speaking_rate_cps", "Speaking rate")):
        rows.append((key, f"{label} (÷ active)", 2.0, limits.get("min_prosody_ratio")))
    parts = []
    y = 4
    for key, label, scale, limit in rows:
        c, a = candidate.get(key), active.get(key)
        if key.endswith(("_st", "_db", "_cps")):
            c = c / a if c is not None and a else None
            a = 1.0 if a else None
        parts.append(format_html('<text x="0" y="{}" font-size="11">{}</text>', y + 12, label))
        for offset, value, colour, who in ((0, c, CANDIDATE_COLOUR, "candidate"), (8, a, ACTIVE_COLOUR, "active")):
            if value is None:
                continue
            width = round(max(1.0, min(value / scale, 1.0) * BAR_W), 1)
            parts.append(format_html(
                '<rect x="{}" y="{}" width="{}" height="7" fill="{}"><title>{} {}: {}</title></rect>',
                LABEL_W, y + offset + 2, width, colour, who, label, round(value, 2)))
        if limit is not None:
            x = round(LABEL_W + min(limit / scale, 1.0) * BAR_W, 1)
            parts.append(format_html('<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="1.5">'
                                     '<title>threshold {}</title></line>', x, x, y, y + ROW_H, LIMIT_COLOUR, limit))
        y += ROW_H + 4
    legend = format_html(
        '<text x="{}" y="{}" font-size="10" fill="{}">■ candidate</text>'
        '<text x="{}" y="{}" font-size="10" fill="{}">■ active</text>'
        '<text x="{}" y="{}" font-size="10" fill="{}">| threshold</text>',
        LABEL_W, y + 10, CANDIDATE_COLOUR, LABEL_W + 75, y + 10, ACTIVE_COLOUR, LABEL_W + 135, y + 10, LIMIT_COLOUR)
    height = y + 16
    return format_html(
        '<svg id="fidelity-gate-chart" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img" '
        'aria-label="Fidelity gate: candidate vs active">{}{}</svg>',
        LABEL_W + BAR_W + 10, height, mark_safe("".join(parts)), legend)


def drift_chart_svg(points, *, floor: float | None = None) -> str:
    """Similarity to the originals (line) and to the version's baseline (dots) per drift check, oldest left;
    a vertical mark where the version changes, out-of-band checks in red."""
    points = list(points)
    if not points:
        return ""
    width, height, pad = 520, 150, 28
    n = len(points)

    def x(i):
        return round(pad + (width - 2 * pad) * (i / max(n - 1, 1)), 1)

    def y(value):
        return round(height - pad - (height - 2 * pad) * max(0.0, min(1.0, value)), 1)

    line = " ".join(f"{x(i):.1f},{y(p.similarity):.1f}" for i, p in enumerate(points))
    parts = [format_html('<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ccc"/>', pad, width - pad, y(0), y(0)),
             format_html('<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ccc"/>', pad, width - pad, y(1), y(1)),
             format_html('<text x="2" y="{}" font-size="10">1</text><text x="2" y="{}" font-size="10">0'
                         '</text>', y(1) + 3, y(0) + 3)]
    if floor is not None:
        parts.append(format_html('<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-dasharray="4 3">'
                                 '<title>band floor {}</title></line>', pad, width - pad, y(floor), y(floor),
                                 LIMIT_COLOUR, floor))
    parts.append(format_html('<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/>', line,
                             CANDIDATE_COLOUR))
    previous_version = None
    for i, p in enumerate(points):
        if p.version_id != previous_version:
            parts.append(format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#999" stroke-dasharray="2 2"/>'
                '<text x="{}" y="{}" font-size="10">v{}</text>',
                x(i), x(i), pad - 6, height - pad, x(i) + 2, pad - 8, p.version.number))
            previous_version = p.version_id
        colour = LIMIT_COLOUR if p.is_out_of_band else CANDIDATE_COLOUR
        parts.append(format_html(
            '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{} v{}: originals {}, '
            'baseline {}{}</title></circle>'
            '<rect x="{}" y="{}" width="5" height="5" fill="none" stroke="{}"/>',
            x(i), y(p.similarity), colour, p.measured_at.strftime("%Y-%m-%d %H:%M"), p.version.number,
            round(p.similarity, 2), round(p.baseline_similarity, 2),
            " (out of band)" if p.is_out_of_band else "", round(x(i) - 2.5, 1), round(y(p.baseline_similarity) - 2.5, 1), colour))
    legend = format_html(
        '<text x="{}" y="{}" font-size="10" fill="{}">● similarity to the originals</text>'
        '<text x="{}" y="{}" font-size="10" fill="{}">□ to the version baseline</text>',
        pad, height - 6, CANDIDATE_COLOUR, pad + 180, height - 6, CANDIDATE_COLOUR)
    return format_html(
        '<svg id="fidelity-drift-chart" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img" '
        'aria-label="Similarity over time">{}{}</svg>', width, height, mark_safe("".join(parts)), legend)


def reasons_list(reasons) -> str:
    return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((r["message"],) for r in reasons or [])))
