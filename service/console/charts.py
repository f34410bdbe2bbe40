"""Charts drawn on the server as SVG (no chart library, no JavaScript): every text is escaped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

from service.console.queries import Rate

# one colour per violation, readable on white and distinguishable in print
COLOURS: dict[str, str] = {
    "out_of_shop_trading": "#d9480f",
    "street_vending": "#1971c2",
    "piled_goods": "#5c940d",
    "illegal_ad": "#9c36b5",
    "exposed_garbage": "#495057",
}
FONT = "font-family=\"'Noto Sans CJK SC','WenQuanYi Micro Hei',sans-serif\""


def _text_width(text: str, size: int) -> int:
    """Roughly how wide ``text`` is drawn: CJK glyphs are square, Latin ones about half."""
    return int(sum(size if ord(c) >= 0x2E80 else size * 0.6 for c in text))


def stacked_days(
    days: Sequence[dt.date],
    per_day: dict[dt.date, dict[str, int]],
    series: Sequence[str],
    label: Callable[[str], str],
    total_label: str,
) -> Markup:
    """Cases per day, one stacked bar per day, one colour per violation, with a legend."""
    width, height = 1100, 250
    left, right, top, bottom = 36, 12, 18, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(per_day.get(d, {}).values()) for d in days]
    peak = max([*totals, 1])
    step = max(1, -(-peak // 4))  # 4 grid lines, whole numbers
    top_value = step * 4
    slot = plot_w / max(1, len(days))
    bar_w = max(4.0, slot * 0.7)
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'{FONT} font-size="12">'
    ]
    for i in range(5):
        value = step * i
        y = top + plot_h - plot_h * value / top_value
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dee2e6"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#495057">{value}</text>'
        )
    for i, day in enumerate(days):
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h
        counts = per_day.get(day, {})
        for v in series:
            n = counts.get(v, 0)
            if not n:
                continue
            h = plot_h * n / top_value
            y -= h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS.get(v, "#868e96")}"><title>{escape(f"{day.isoformat()} {label(v)}: {n}")}'
                "</title></rect>"
            )
        if totals[i]:
            out.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" fill="#212529">'
                f"{totals[i]}</text>"
            )
        if len(days) <= 16 or i % 2 == 0:
            out.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" fill="#495057">'
                f"{day.strftime('%m-%d')}</text>"
            )
    lx = left
    ly = height - 12
    for v in series:
        text = escape(label(v))
        out.append(
            f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{COLOURS.get(v, "#868e96")}"/>'
            f'<text x="{lx + 14}" y="{ly}" fill="#212529">{text}</text>'
        )
        lx += 28 + _text_width(label(v), 12)
    out.append(
        f'<text x="{width - right}" y="{ly}" text-anchor="end" fill="#495057">'
        f"{escape(total_label)} {sum(totals)}</text>"
    )
    out.append("</svg>")
    return Markup("".join(out))


def rate_bars(rates: Sequence[Rate], label: Callable[[str], str], reviewed: Callable[[int], str]) -> Markup:
    """One row per key (label above its bar), lowest confirm rate first: the false-alarm suspects on top."""
    row_h, width, bar_max = 40, 460, 300
    height = row_h * len(rates) + 4
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'{FONT} font-size="12">'
    ]
    for i, r in enumerate(rates):
        y = 2 + i * row_h
        w = bar_max * r.rate
        colour = "#c92a2a" if r.rate < 0.5 else "#e67700" if r.rate < 0.8 else "#2b8a3e"
        name = escape(label(r.key))
        out.append(
            f'<text x="0" y="{y + 12}" fill="#212529">{name}</text>'
            f'<rect x="0" y="{y + 17}" width="{bar_max}" height="14" fill="#f1f3f5"/>'
            f'<rect x="0" y="{y + 17}" width="{w:.1f}" height="14" fill="{colour}">'
            f"<title>{name}: {r.confirmed}/{r.reviewed}</title></rect>"
            f'<text x="{bar_max + 8}" y="{y + 29}" fill="#212529">{r.rate * 100:.0f}%'
            f'<tspan fill="#868e96"> · {escape(reviewed(r.reviewed))}</tspan></text>'
        )
    out.append("</svg>")
    return Markup("".join(out))
