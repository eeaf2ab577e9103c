"""Charts as SVG, drawn on the server from plain numbers: stacked bars, horizontal bars,
a heat map. No JavaScript and no inline style (the admin's Content-Security-Policy):
every element carries classes that telephony/static/telephony/dashboard.css colours with
the admin's CSS variables, so the charts follow its light and dark themes.

Built with ElementTree, which escapes every label; each bar and cell has a <title>, which
browsers show on hover and screen readers read.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from django.utils.safestring import SafeString, mark_safe

SVG_NS = "http://www.w3.org/2000/svg"
SERIES_CLASSES = 6  # series-0 .. series-5 in dashboard.css, then they repeat
HEAT_LEVELS = 5  # heat-1 .. heat-5; heat-0 is an hour without calls


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover (the loop always returns)


def _svg(width: int, height: int, title: str) -> ET.Element:
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "viewBox": f"0 0 {width} {height}",
            "class": "chart",
            "role": "img",
            "aria-label": title,
        },
    )
    ET.SubElement(svg, "title").text = title
    return svg


def _text(parent, x, y, text, css="chart-label", anchor="start") -> ET.Element:
    element = ET.SubElement(
        parent, "text", {"x": f"{x:g}", "y": f"{y:g}", "class": css, "text-anchor": anchor}
    )
    element.text = text
    return element


def _rect(parent, x, y, width, height, css) -> ET.Element:
    return ET.SubElement(
        parent,
        "rect",
        {
            "x": f"{x:.1f}",
            "y": f"{y:.1f}",
            "width": f"{max(width, 0):.1f}",
            "height": f"{max(height, 0):.1f}",
            "class": css,
        },
    )


def _done(svg: ET.Element) -> SafeString:
    # Safe: ElementTree escaped every text and attribute, and we wrote every tag.
    return mark_safe(ET.tostring(svg, encoding="unicode"))


def stacked_bars(
    labels: list[str],
    series: list[tuple[str, list[int]]],
    *,
    title: str,
    label_every: int = 1,
    width: int = 760,
    height: int = 240,
) -> SafeString:
    """One bar per label, each series stacked on the ones before; a legend above."""
    left, right, top, bottom = 44, 8, 28, 36
    svg = _svg(width, height, title)
    totals = [sum(values[i] for _, values in series) for i in range(len(labels))]
    scale_max = nice_ceiling(max(totals, default=0))
    plot_w, plot_h = width - left - right, height - top - bottom
    # Legend: a swatch and a name per series, across the top.
    x = left
    for n, (name, _) in enumerate(series):
        _rect(svg, x, 6, 10, 10, f"chart-bar series-{n % SERIES_CLASSES}")
        _text(svg, x + 14, 15, name, "chart-legend")
        x += 24 + 7 * len(name)
    # Axis: zero, half and the top of the scale, with grid lines.
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        ET.SubElement(
            svg,
            "line",
            {"x1": str(left), "x2": str(width - right), "y1": f"{y:g}", "y2": f"{y:g}"},
        ).set("class", "chart-grid")
        _text(svg, left - 4, y + 4, f"{round(scale_max * fraction):,}", "chart-axis", "end")
    if not labels:
        _text(svg, left + plot_w / 2, top + plot_h / 2, "Nothing in this period", anchor="middle")
        return _done(svg)
    slot = plot_w / len(labels)
    bar_w = max(slot * 0.8, 0.5)
    for i, label in enumerate(labels):
        group = ET.SubElement(svg, "g", {"class": "chart-column"})
        parts = [f"{name} {values[i]:,}" for name, values in series if values[i]]
        ET.SubElement(group, "title").text = f"{label}: {totals[i]:,}" + (
            f" ({', '.join(parts)})" if len(series) > 1 and parts else ""
        )
        x = left + slot * i + (slot - bar_w) / 2
        base = top + plot_h
        for n, (_, values) in enumerate(series):
            h = plot_h * values[i] / scale_max
            if h > 0:
                _rect(group, x, base - h, bar_w, h, f"chart-bar series-{n % SERIES_CLASSES}")
                base -= h
        if label and i % max(label_every, 1) == 0:
            _text(svg, x + bar_w / 2, height - bottom + 14, label, "chart-axis", "middle")
    return _done(svg)


def horizontal_bars(
    rows: list[tuple[str, int, str]], *, title: str, width: int = 560
) -> SafeString:
    """One bar per (label, value, css class), its value after it."""
    label_w, value_w, row_h = 180, 60, 22
    height = max(len(rows), 1) * row_h + 8
    svg = _svg(width, height, title)
    scale_max = max((value for _, value, _ in rows), default=0) or 1
    plot_w = width - label_w - value_w
    if not rows:
        _text(svg, 0, 18, "Nothing in this period")
    for i, (label, value, css) in enumerate(rows):
        y = 4 + i * row_h
        group = ET.SubElement(svg, "g", {"class": "chart-row"})
        ET.SubElement(group, "title").text = f"{label}: {value:,}"
        _text(group, label_w - 8, y + 15, label, "chart-label", "end")
        _rect(group, label_w, y + 2, plot_w * value / scale_max, row_h - 6, f"chart-bar {css}")
        _text(group, label_w + plot_w * value / scale_max + 6, y + 15, f"{value:,}", "chart-value")
    return _done(svg)


def heat_map(
    grid: list[list[int]], *, rows: list[str], columns: list[str], title: str
) -> SafeString:
    """A cell per grid[row][column], darker the more it holds (HEAT_LEVELS steps)."""
    left, top, cell = 40, 18, 26
    width, height = left + cell * len(columns) + 4, top + cell * len(rows) + 4
    svg = _svg(width, height, title)
    peak = max((value for line in grid for value in line), default=0)
    for c, name in enumerate(columns):
        _text(svg, left + c * cell + cell / 2, top - 5, name, "chart-axis", "middle")
    for r, name in enumerate(rows):
        _text(svg, left - 6, top + r * cell + cell / 2 + 4, name, "chart-axis", "end")
        for c, value in enumerate(grid[r]):
            level = math.ceil(HEAT_LEVELS * value / peak) if peak and value else 0
            group = ET.SubElement(svg, "g", {"class": "chart-cell"})
            ET.SubElement(group, "title").text = f"{name} {columns[c]}:00 - {value:,} calls"
            _rect(group, left + c * cell, top + r * cell, cell - 2, cell - 2, f"heat heat-{level}")
    return _done(svg)
