"""Server-rendered bar charts: geometry for an inline SVG, in integers (no JavaScript, no floats)."""

from dataclasses import dataclass

from ledger.currencies import format_amount
from payments.selectors import CurrencyVolume

WIDTH, HEIGHT = 560, 160
TOP, BOTTOM, LEFT = 14, 22, 4
GAP = 6


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    label_x: int
    label: str  # the day, e.g. "21"
    title: str  # the tooltip: date, amount, count
    is_today: bool


def volume_chart(volume: CurrencyVolume) -> dict:
    """Lay out one bar per day, scaled to the busiest day; an empty day keeps a 1 px stub."""
    days = volume.days
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT) // len(days)
    peak = max((d.amount for d in days), default=0)
    bars = []
    for index, day in enumerate(days):
        height = max(1, day.amount * plot_height // peak) if peak else 1
        bars.append(Bar(
            x=LEFT + index * slot + GAP // 2,
            y=TOP + plot_height - height,
            width=slot - GAP,
            height=height,
            label_x=LEFT + index * slot + slot // 2,
            label=f"{day.day:%d}",
            title=f"{day.day:%a %d %b}: {format_amount(day.amount, volume.currency)} in {day.count} payment(s)",
            is_today=index == len(days) - 1,
        ))
    return {
        "volume": volume,
        "bars": bars,
        "width": WIDTH,
        "height": HEIGHT,
        "baseline": TOP + plot_height,
        "peak": format_amount(peak, volume.currency),
        "label_y": HEIGHT - 6,
    }
