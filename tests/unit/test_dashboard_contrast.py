"""Sufficient contrast (issue 14): every text colour of the dashboard's stylesheet against every
background it can sit on has a WCAG 2.1 contrast ratio of at least 4.5:1.

Pairs: a rule's colour with its own background; a rule with a colour only, with the background
of its ancestor rule (``header.top a`` on ``header.top``), else with every light background of
the sheet (page, table heads, row headers, the freshness line...), where such text may appear."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "api" / "dashboard" / "static" / "dashboard.css"
MINIMUM = 4.5


def _rules(text: str) -> list[tuple[list[str], dict[str, str]]]:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", text):
        decls = {}
        for d in body.split(";"):
            if ":" in d:
                k, v = d.split(":", 1)
                decls[k.strip()] = v.strip()
        out.append(([s.strip() for s in selectors.split(",")], decls))
    return out


def _resolve(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"var\((--[\w-]+)\)", lambda m: variables[m.group(1)], value).strip()


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    assert re.fullmatch(r"[0-9a-fA-F]{6}", h), f"not a #rgb/#rrggbb colour: {hex_colour}"
    return tuple(int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def luminance(hex_colour: str) -> float:
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in _rgb(hex_colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def pairs() -> list[tuple[str, str, str]]:
    rules = _rules(CSS.read_text(encoding="utf-8"))
    variables = {
        k: v for sel, decls in rules if ":root" in sel for k, v in decls.items() if k.startswith("--")
    }
    backgrounds: dict[str, str] = {}
    for sels, decls in rules:
        if "background" in decls:
            for s in sels:
                backgrounds[s] = _resolve(decls["background"], variables)
    light = sorted({bg for bg in backgrounds.values() if luminance(bg) > 0.5})
    out = []
    for sels, decls in rules:
        if "color" not in decls:
            continue
        fg = _resolve(decls["color"], variables)
        for s in sels:
            if s in backgrounds:
                out.append((s, fg, backgrounds[s]))
                continue
            ancestors = [a for a in backgrounds if s.startswith(a + " ")]
            if ancestors:
                out.append((s, fg, backgrounds[max(ancestors, key=len)]))
            else:
                out.extend((s, fg, bg) for bg in light)
    return out


def test_the_formula_matches_wcag_reference_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic near miss
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)


def test_the_sheet_has_the_pairs_we_expect():
    found = {(s, fg, bg) for s, fg, bg in pairs()}
    assert ("header.top a", "#fff", "#13294b") in found  # white on the navy header
    assert ("a", "#0b4f9c", "#eef2f7") in found  # a link in a table head
    assert ("td.empty", "#4a4a4a", "#f4f4f4") in found  # muted text on the freshness grey
    assert len(found) >= 20


@pytest.mark.parametrize(("selector", "fg", "bg"), pairs())
def test_text_contrast_is_at_least_4_5_to_1(selector, fg, bg):
    assert contrast(fg, bg) >= MINIMUM, f"{selector}: {fg} on {bg} is {contrast(fg, bg):.2f}:1"
