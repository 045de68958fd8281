"""Server-rendered SVG bar charts: no chart library, no CDN, works offline on the Pi."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

WIDTH = 720
HEIGHT = 220
PAD_LEFT = 96
PAD_BOTTOM = 44
PAD_TOP = 12
TICKS = 4


def bar_chart(
    points: Sequence[tuple[str, int]],
    *,
    title: str,
    fmt: Callable[[int], str],
    y_label: str,
    x_label: str,
    css_class: str = "bars",
) -> Markup:
    """Bars for ``(label, value)`` points around a zero line (values may be negative).

    Both axes are named (``y_label`` carries the unit, e.g. "USDC"), with gridlines
    and values at even steps so a bar can be read without hovering it.
    """
    plot_w = WIDTH - PAD_LEFT - 8
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    values = [v for _, v in points]
    top = max([0, *values])
    bottom = min([0, *values])
    span = (top - bottom) or 1
    zero_y = PAD_TOP + plot_h * top / span
    n = max(len(points), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.8, 1.0)
    parts = [
        f'<svg class="chart {escape(css_class)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="12" y="{PAD_TOP + plot_h / 2:.1f}" class="axis-label" '
        f'transform="rotate(-90 12 {PAD_TOP + plot_h / 2:.1f})" text-anchor="middle">'
        f"{escape(y_label)}</text>",
        f'<text x="{PAD_LEFT + plot_w / 2:.1f}" y="{HEIGHT - 4}" class="axis-label" '
        f'text-anchor="middle">{escape(x_label)}</text>',
    ]
    for k in range(TICKS + 1):
        value = bottom + span * k // TICKS if top != bottom else top
        y = PAD_TOP + plot_h * (top - value) / span
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{PAD_LEFT - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
            f"{escape(fmt(value))}</text>"
        )
    parts.append(
        f'<line x1="{PAD_LEFT}" x2="{WIDTH - 8}" y1="{zero_y:.1f}" y2="{zero_y:.1f}" class="zero"/>'
    )
    label_every = max(1, n // 8)
    for i, (label, value) in enumerate(points):
        x = PAD_LEFT + i * slot + (slot - bar_w) / 2
        h = plot_h * abs(value) / span
        y = zero_y - h if value >= 0 else zero_y
        kind = "pos" if value >= 0 else "neg"
        parts.append(
            f'<rect class="{kind}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
            f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>"
        )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 14}" class="axis">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
