"""Charts: SVG rendered on the server by pygal (no JavaScript, nothing loaded from elsewhere).

Readable without colour: every bar carries its value printed on it, the two series differ
strongly in lightness (dark blue and light orange) and the same figures are in a table
under the chart.
"""

from __future__ import annotations

import re
from typing import Any

import pygal  # type: ignore[import-untyped]
from pygal.style import Style  # type: ignore[import-untyped]

from .i18n import Translator

_SCRIPT = re.compile(r"<script.*?</script>", re.S)
STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1a1a1a",
    foreground_strong="#000000",
    foreground_subtle="#555555",
    colors=("#1f3a93", "#f5b041"),
    font_family="'Noto Sans CJK JP', 'IPAGothic', sans-serif",
    value_font_size=11,
    label_font_size=12,
    legend_font_size=13,
    title_font_size=15,
)


def _short(lang: str):
    """Bar labels short enough to sit on a bar: 万円 (ten thousand yen) in Japanese, ¥M in English."""

    def fmt(v: int | float | None) -> str:
        if not v:
            return ""
        return f"{v / 10_000:,.0f}万" if lang == "ja" else f"¥{v / 1_000_000:,.1f}M"

    return fmt


def premium_and_claims(t: Translator, months: list[dict[str, Any]]) -> str:
    chart = pygal.Bar(
        style=STYLE,
        width=900,
        height=360,
        js=(),  # pygal's tooltips load a script from the web: not on a closed network
        disable_xml_declaration=True,
        print_values=True,
        print_values_position="top",
        value_formatter=_short(t.lang),
        legend_at_bottom=True,
        x_label_rotation=0,
        show_y_guides=True,
        margin_top=30,
        title=t("chart"),
    )
    chart.x_labels = [t.month(m["month"]) for m in months]
    chart.add(t("premium_collected"), [m["premium"] for m in months])
    chart.add(t("claims_paid_month"), [m["claims"] for m in months])
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))  # its inline tooltip config: no JS on the page
    return svg.replace("<svg ", f'<svg role="img" aria-label="{t("chart")}" ', 1)
