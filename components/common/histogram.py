"""Overlaid histograms as inline SVG: two or more distributions over the same bins, each bin's
share of its side's rows drawn as a translucent bar, so where the sides differ shows as colour
that does not overlap."""

from __future__ import annotations

from components.common.bar_chart import PALETTE, nice_max, nice_step
from components.common.formatting import esc, finite, fmt


def _paint(k: int, outlined: int) -> str:
    if k >= outlined:
        return 'fill-opacity="0" stroke-width="1.5" stroke-dasharray="3,2"'
    return 'fill-opacity="0.35" stroke-width="0.8"'


def _x_ticks(low: float, high: float) -> list[float]:
    step = nice_step((high - low) / 5)
    first = -(-low // step) * step  # the first multiple of step at or above low
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def histogram(
    chart_id: str,
    title: str,
    edges: list[float],
    series: list[tuple[str, list[float]]],
    axis_title: str,
    note: str = "",
    palette: tuple[str, ...] = PALETTE,
    outlined: int = 2,
) -> str:
    """Bins [edges[i], edges[i + 1]] of every series' shares (0-1) on one x axis and one y axis
    from 0. Every bin is a <rect class="bin"> with data-series, data-low, data-high and
    data-value (its share); the y axis is <line class="axis"> with data-max. Series from
    `outlined` on are drawn as outlines only: a third filled series would hide the first two."""
    left, plot_w, right, top, plot_h = 48, 420, 16, 40, 150
    width, height = left + plot_w + right, top + plot_h + 44
    low, high = edges[0], edges[-1]
    x_scale = plot_w / ((high - low) or 1.0)
    shares = [s for _, values in series for s in values if finite(s)]
    y_max = nice_max(max(shares, default=0.0))
    y_scale = plot_h / y_max
    base = top + plot_h
    parts = []
    for k, (name, _) in enumerate(series):
        x, colour = left + k * 150, palette[k % len(palette)]
        parts.append(
            f'<rect x="{x}" y="21" width="10" height="10" fill="{colour}" stroke="{colour}" {_paint(k, outlined)}/>'
            f'<text x="{x + 14}" y="30" font-size="11">{esc(name[:24])}</text>'
        )
    y_step = nice_step(y_max / 4)
    for v in [i * y_step for i in range(int(round(y_max / y_step)) + 1)]:
        y = base - v * y_scale
        parts.append(
            f'<line x1="{left}" y1="{y:.2f}" x2="{left + plot_w}" y2="{y:.2f}" stroke="#d0d7de" stroke-width="0.5"/>'
            f'<text x="{left - 4}" y="{y + 3:.2f}" font-size="10" text-anchor="end">{fmt(v, "percent")}</text>'
        )
    for v in _x_ticks(low, high):
        x = left + (v - low) * x_scale
        parts.append(
            f'<line x1="{x:.2f}" y1="{base}" x2="{x:.2f}" y2="{base + 4}" stroke="#57606a"/>'
            f'<text x="{x:.2f}" y="{base + 15}" font-size="10" text-anchor="middle">{v:,.6g}</text>'
        )
    for k, (name, values) in enumerate(series):
        colour = palette[k % len(palette)]
        for a, b, share in zip(edges[:-1], edges[1:], values, strict=True):
            if not finite(share):
                continue
            h = share * y_scale
            parts.append(
                f'<rect class="bin" x="{left + (a - low) * x_scale:.2f}" y="{base - h:.2f}" '
                f'width="{max((b - a) * x_scale, 0.5):.2f}" height="{h:.2f}" fill="{colour}" {_paint(k, outlined)} '
                f'stroke="{colour}" data-series="{esc(name)}" data-low="{a!r}" data-high="{b!r}" '
                f'data-value="{share!r}"><title>{esc(name)}: {fmt(share, "percent")} in [{fmt(a, "unit")}, '
                f"{fmt(b, 'unit')}]</title></rect>"
            )
    parts.append(
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#57606a" data-max="{y_max!r}"/>'
        f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#57606a"/>'
        f'<text x="{left + plot_w / 2}" y="{base + 32}" font-size="11" text-anchor="middle">{esc(axis_title)}</text>'
    )
    caption = f'<div class="muted caption" style="max-width:{width}px">{esc(note)}</div>' if note else ""
    return (
        f'<div class="chart" id="{esc(chart_id)}"><svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img"><title>{esc(title)}</title><text x="4" y="14" font-size="12" '
        f'font-weight="600">{esc(title)}</text>{"".join(parts)}</svg>{caption}</div>'
    )
