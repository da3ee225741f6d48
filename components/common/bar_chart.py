"""The reports' bar chart: a horizontal bar chart as inline SVG, on an axis from 0 that is the
same for every bar, so bars compare by length."""

from __future__ import annotations

import math

from components.common.formatting import esc, finite, fmt

PALETTE = ("#0969da", "#bf8700", "#8250df", "#1a7f37", "#cf222e", "#1b7c83", "#9a6700", "#e85aad")


def nice_step(span: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above span."""
    if not finite(span) or span <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(span))
    return next(m * exp for m in (1, 2, 2.5, 5, 10) if span <= m * exp * (1 + 1e-12))


def nice_max(value: float) -> float:
    """An axis end at or above value: a whole number of nice steps (about five ticks)."""
    if not finite(value) or value <= 0:
        return 1.0
    step = nice_step(value / 5)
    return math.ceil(value / step - 1e-9) * step


def _ticks(axis_max: float) -> list[float]:
    step = 0.2 if axis_max == 1.0 else nice_step(axis_max / 5)
    return [i * step for i in range(int(round(axis_max / step)) + 1)]


def bar_chart(
    chart_id: str,
    title: str,
    rows: list[dict],
    axis_max: float,
    axis_title: str,
    kind: str,
    series: list[str] | None = None,
    marks: list[tuple[float, str]] | None = None,
    band: tuple[float, float, str] | None = None,
    note: str = "",
    palette: tuple[str, ...] = PALETTE,
) -> str:
    """A horizontal bar chart on one axis from 0 to axis_max, the same for every bar.

    rows: {"label", "values": [value or None per series], "muted": bool}. Every bar is a
    <rect class="bar"> with data-value; the axis is <line class="axis"> with data-max, so a
    bar's width is value / axis_max of the axis' width. marks: grey dashed lines (value,
    label); band: a red shaded span (low, high, label), the gate's gap; palette: the series' colours."""
    series = series or [""]
    left, axis_w, right = 170, 300, 64
    bar = 12 if len(series) == 1 else 9
    gap = 8
    legend = 16 if len(series) > 1 else 0
    top = 24 + legend
    group_h = bar * len(series) + gap
    axis_y = top + len(rows) * group_h + 2
    width, height = left + axis_w + right, axis_y + 36
    scale = axis_w / axis_max
    parts = []
    for k, name in enumerate(series if len(series) > 1 else []):
        x = left - 150 + k * 150
        parts.append(
            f'<rect x="{x}" y="21" width="10" height="10" fill="{palette[k % len(palette)]}"/>'
            f'<text x="{x + 14}" y="30" font-size="11">{esc(name[:24])}</text>'
        )
    for v in _ticks(axis_max):
        x = left + v * scale
        parts.append(
            f'<line x1="{x:.2f}" y1="{top - 2}" x2="{x:.2f}" y2="{axis_y + 4}" stroke="#d0d7de" stroke-width="0.5"/>'
            f'<text x="{x:.2f}" y="{axis_y + 15}" font-size="10" text-anchor="middle">{v:,.6g}</text>'
        )
    if band and finite(band[0]) and finite(band[1]):
        x0, x1 = left + min(band[0], axis_max) * scale, left + min(band[1], axis_max) * scale
        parts.append(
            f'<rect class="gap-band" x="{x0:.2f}" y="{top - 4}" width="{max(x1 - x0, 1.5):.2f}" '
            f'height="{axis_y - top + 4}" fill="#cf222e" fill-opacity="0.12" stroke="#cf222e" stroke-width="0.8">'
            f"<title>{esc(band[2])}</title></rect>"
        )
    for i, row in enumerate(rows):
        y0 = top + i * group_h
        muted_text = ' fill="#656d76"' if row.get("muted") else ""
        muted_bar = ' fill-opacity="0.35"' if row.get("muted") else ""
        parts.append(
            f'<text x="{left - 6}" y="{y0 + bar * len(series) / 2 + 4:.1f}" text-anchor="end" '
            f'font-size="10"{muted_text}>{esc(row["label"])}</text>'
        )
        for k, value in enumerate(row["values"]):
            y = y0 + k * bar
            if not finite(value):
                parts.append(f'<text x="{left + 4}" y="{y + bar - 1}" font-size="9" fill="#656d76">no value</text>')
                continue
            w = max(0.0, min(value, axis_max)) * scale
            parts.append(
                f'<rect class="bar" x="{left}" y="{y}" width="{w:.2f}" height="{bar - 1}" '
                f'fill="{palette[k % len(palette)]}"{muted_bar} data-value="{value!r}" '
                f'data-group="{esc(row["group"])}" data-series="{esc(series[k])}"/>'
                f'<text x="{left + w + 4:.2f}" y="{y + bar - 1}" font-size="{10 if bar > 10 else 9}">'
                f"{fmt(value, kind)}</text>"
            )
    for value, label in marks or []:
        if finite(value):
            x = left + min(value, axis_max) * scale
            parts.append(
                f'<line class="mark" x1="{x:.2f}" y1="{top - 4}" x2="{x:.2f}" y2="{axis_y}" stroke="#57606a" '
                f'stroke-dasharray="4,3"><title>{esc(label)}</title></line>'
            )
    parts.append(
        f'<line class="axis" x1="{left}" y1="{axis_y}" x2="{left + axis_w}" y2="{axis_y}" stroke="#57606a" '
        f'data-max="{axis_max!r}"/><text x="{left + axis_w / 2}" y="{axis_y + 30}" font-size="11" '
        f'text-anchor="middle">{esc(axis_title)}</text>'
    )
    caption = f'<div class="muted caption" style="max-width:{width}px">{esc(note)}</div>' if note else ""
    return (
        f'<div class="chart" id="{esc(chart_id)}"><svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img"><title>{esc(title)}</title><text x="4" y="14" font-size="12" '
        f'font-weight="600">{esc(title)}</text>{"".join(parts)}</svg>{caption}</div>'
    )
