"""Small inline SVG charts for the HTML report (no plotting library, no scripts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

W, H = 420, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 110, 28, 36
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


def _y(value: float, lo: float, hi: float) -> float:
    span = (hi - lo) or 1.0
    return TOP + (H - TOP - BOTTOM) * (1 - (min(max(value, lo), hi) - lo) / span)


def _frame(title: str, lo: float, hi: float, y_label: str) -> list[str]:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{W / 2 - RIGHT / 2:.0f}" y="16" text-anchor="middle" font-size="13" '
        f'font-weight="bold">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" stroke="#333"/>',
        f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" stroke="#333"/>',
        f'<text x="12" y="{(H - BOTTOM + TOP) / 2:.0f}" font-size="11" transform="rotate(-90 12 '
        f'{(H - BOTTOM + TOP) / 2:.0f})" text-anchor="middle">{escape(y_label)}</text>',
    ]
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        v = 0.0 if abs(v) < 1e-9 * max(abs(lo), abs(hi), 1.0) else v  # no 1.1e-16 for zero
        y = _y(v, lo, hi)
        parts.append(f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{v:.3g}</text>')
    return parts


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], thresholds: Sequence[float | None],
              lo: float = 0.0, hi: float = 1.0, y_label: str = "") -> str:
    parts = _frame(title, lo, hi, y_label)
    n = max(1, len(values))
    slot = (W - RIGHT - LEFT) / n
    for i, (label, value, limit) in enumerate(zip(labels, values, thresholds, strict=True)):
        x = LEFT + i * slot + slot * 0.2
        width = slot * 0.6
        y = _y(value, lo, hi)
        ok = limit is None or value >= limit
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{H - BOTTOM - y:.1f}" '
                     f'fill="{"#2ca02c" if ok else "#d62728"}"><title>{escape(label)}: {value:.4g}</title></rect>')
        # The value sits inside the top of the bar, clear of the threshold mark above it.
        parts.append(f'<text x="{x + width / 2:.1f}" y="{y + 14:.1f}" font-size="11" fill="#fff" '
                     f'text-anchor="middle">{value:.3f}</text>')
        parts.append(f'<text x="{x + width / 2:.1f}" y="{H - BOTTOM + 14}" font-size="11" '
                     f'text-anchor="middle">{escape(label)}</text>')
        if limit is not None:
            ly = _y(limit, lo, hi)
            parts.append(f'<line x1="{x - 4:.1f}" y1="{ly:.1f}" x2="{x + width + 4:.1f}" y2="{ly:.1f}" '
                         f'stroke="#000" stroke-dasharray="4 3"><title>threshold {limit}</title></line>')
    parts.append(f'<text x="{W - RIGHT + 8}" y="{TOP + 12}" font-size="10">- - threshold</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, xs: Sequence[float], series: Mapping[str, Sequence[float | None]],
               threshold: float | None = None, lo: float = 0.0, hi: float = 1.0, x_label: str = "",
               y_label: str = "", x_ticks: Sequence[str] | None = None) -> str:
    parts = _frame(title, lo, hi, y_label)
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)

    def x_of(v: float) -> float:
        return LEFT + (W - RIGHT - LEFT) * ((v - x_lo) / ((x_hi - x_lo) or 1.0)) if len(xs) > 1 else (W - RIGHT +
                                                                                                        LEFT) / 2

    for i, x in enumerate(xs):
        tick = x_ticks[i] if x_ticks else f"{x:g}"
        parts.append(f'<text x="{x_of(x):.1f}" y="{H - BOTTOM + 14}" font-size="10" '
                     f'text-anchor="middle">{escape(tick)}</text>')
    parts.append(f'<text x="{(LEFT + W - RIGHT) / 2:.0f}" y="{H - 6}" font-size="11" '
                 f'text-anchor="middle">{escape(x_label)}</text>')
    if threshold is not None:
        ty = _y(threshold, lo, hi)
        parts.append(f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{W - RIGHT}" y2="{ty:.1f}" stroke="#000" '
                     f'stroke-dasharray="4 3"><title>threshold {threshold}</title></line>')
    for k, (name, ys) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        points = [(x_of(x), _y(y, lo, hi), y) for x, y in zip(xs, ys, strict=True) if y is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py, y in points:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}">'
                         f'<title>{escape(name)}: {y:.4g}</title></circle>')
        parts.append(f'<rect x="{W - RIGHT + 8}" y="{TOP + 20 + 16 * k}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{W - RIGHT + 22}" y="{TOP + 29 + 16 * k}" font-size="10">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
