"""The bulletin's two charts as small inline SVGs: time to fix by category (median and
p90 bars) and the weekly trend (tickets opened, the machine-found part shaded).

Hand-drawn on purpose: two bar charts do not need a plotting library, and plain SVG
prints sharply on the notice board and scales on a phone.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from services.tickets.bulletin_model import CategoryFigures, TrendWeek

INK, MEDIAN, P90, MACHINE, PEOPLE = "#1f2933", "#d97706", "#fcd34d", "#2563eb", "#93c5fd"


def _hours(seconds: float | None) -> float:
    return (seconds or 0.0) / 3600


def ttf_by_category(categories: Sequence[CategoryFigures], language: str = "zh-CN",
                    width: int = 360) -> str:
    """Horizontal bars: median (dark) over p90 (light) per category, in hours."""
    rows = [c for c in categories if c.get("ttf_median_s") is not None]
    title = "各类问题处理时长（小时）" if language == "zh-CN" else "Time to fix by category (h)"
    if not rows:
        empty = "本周无已处理问题" if language == "zh-CN" else "nothing resolved this week"
        return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="40"'
                f' viewBox="0 0 {width} 40"><title>{escape(title)}</title>'
                f'<text x="4" y="24" font-size="13" fill="{INK}">{escape(empty)}</text></svg>')
    label_w, bar_h, gap = 96, 14, 10
    top = max(_hours(c.get("ttf_p90_s") or c.get("ttf_median_s")) for c in rows) or 1.0
    scale = (width - label_w - 48) / top
    height = len(rows) * (bar_h + gap) + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}"'
             f' height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title)}</title>']
    for i, c in enumerate(rows):
        y = 4 + i * (bar_h + gap)
        name = c["name"] if language == "zh-CN" else c.get("name_en") or c["name"]
        median, p90 = _hours(c["ttf_median_s"]), _hours(c.get("ttf_p90_s"))
        parts.append(f'<text x="0" y="{y + bar_h - 3}" font-size="12" fill="{INK}">'
                     f"{escape(name)}</text>")
        parts.append(f'<rect x="{label_w}" y="{y}" width="{max(p90 * scale, 1):.1f}"'
                     f' height="{bar_h}" fill="{P90}"><title>p90 {p90:.1f} h</title></rect>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{max(median * scale, 1):.1f}"'
                     f' height="{bar_h}" fill="{MEDIAN}"><title>median {median:.1f} h</title>'
                     "</rect>")
        parts.append(f'<text x="{label_w + max(p90, median) * scale + 4:.1f}"'
                     f' y="{y + bar_h - 3}" font-size="11" fill="{INK}">{median:.1f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def weekly_trend(weeks: Sequence[TrendWeek], language: str = "zh-CN",
                 width: int = 360, height: int = 120) -> str:
    """Vertical bars per week: tickets opened, the machine-found part in dark blue."""
    title = "每周新增问题（深色为机器发现）" if language == "zh-CN" else \
        "Tickets opened per week (dark: found by machines)"
    n = max(len(weeks), 1)
    top = max((w["opened"] for w in weeks), default=0) or 1
    slot = (width - 8) / n
    bar = slot * 0.7
    chart_h = height - 22
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}"'
             f' height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title)}</title>']
    for i, w in enumerate(weeks):
        x = 4 + i * slot + (slot - bar) / 2
        total_h = w["opened"] / top * chart_h
        machine_h = w["by_machines"] / top * chart_h
        base = chart_h + 2
        label = escape(f"{w['week_start'][:10]}: {w['opened']}")
        parts.append(f'<rect x="{x:.1f}" y="{base - total_h:.1f}" width="{bar:.1f}"'
                     f' height="{total_h:.1f}" fill="{PEOPLE}"><title>{label}</title></rect>')
        parts.append(f'<rect x="{x:.1f}" y="{base - machine_h:.1f}" width="{bar:.1f}"'
                     f' height="{machine_h:.1f}" fill="{MACHINE}"/>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - 4}" font-size="10"'
                     f' text-anchor="middle" fill="{INK}">{escape(w["week_start"][5:10])}</text>')
    parts.append("</svg>")
    return "".join(parts)
