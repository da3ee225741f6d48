"""The reports' one number format (evaluation and monitoring alike), and the escaping and
table cells every section shares."""

from __future__ import annotations

import html
import math
import re

DASH = "–"


def finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value, kind: str = "metric", signed: bool = False) -> str:
    """The report's one number format (HTML and Markdown alike).

    kind: "count" (2,986), "metric" (rates, AUC, r², calibration: 0.9380), "unit" (a value in
    the label's units: four significant digits, 2.393 / 23.71 / 12,345), "percent" (42.1%).
    signed: a change, with its sign (+0.0012, -0.0100). None, NaN and inf print as a dash."""
    if not finite(value):
        return DASH
    sign = "+" if signed and value > 0 else ""
    if kind == "count":
        return f"{sign}{round(value):,}"
    if kind == "percent":
        return f"{sign}{value:.1%}"
    if kind == "unit":
        if value == 0:
            return "0"
        digits = min(8, max(0, 3 - math.floor(math.log10(abs(value)))))
        return f"{sign}{value:,.{digits}f}"
    return f"{sign}{value:.4f}"


def change(candidate, baseline) -> float | None:
    """Candidate minus baseline, or None when either has no value."""
    return candidate - baseline if finite(candidate) and finite(baseline) else None


def esc(value) -> str:
    return html.escape(str(value))


def md(text) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "/").replace("\n", " ")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def cell(value, kind: str = "metric", interval=None, signed: bool = False) -> str:
    """A table cell with the number in the report's format; data-v holds the raw value the
    sortable tables sort by, and an interval prints under the number."""
    data = f' data-v="{value}"' if finite(value) else ""
    ci = (
        f'<br><span class="ci">[{fmt(interval[0], kind)}, {fmt(interval[1], kind)}]</span>'
        if interval and None not in interval
        else ""
    )
    return f"<td{data}>{fmt(value, kind, signed)}{ci}</td>"
