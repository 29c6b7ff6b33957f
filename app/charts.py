"""Trend charts drawn on the server as SVG with matplotlib.

Why server-side: the page needs no charting script, so the Content-Security-Policy stays
strict, and the SVG matplotlib writes holds no script (names from the store are escaped as
XML text). A chart is a figure of its own (no pyplot state), drawn under a lock because
matplotlib's rc settings are process-wide.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from threading import Lock

import matplotlib

matplotlib.use("Agg")  # never a GUI backend on a server

from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from graph.trends import SubstanceSeries

PALETTE = ("#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f")
COUNTS = (("offers", "-", "offers"), ("requests", "--", "requests"), ("seizures", ":", "seizures"))
"""(series field, line style, legend word) for each count drawn."""
SVG_SETTINGS = {"svg.fonttype": "none", "svg.hashsalt": "prexus", "font.size": 9.0}
"""Text as text (searchable, small) and stable element ids, so equal data gives equal SVG."""
_DRAWING = Lock()


def period_start(period: str) -> date:
    """'2019-11' -> 2019-11-01, '2019-Q4' -> 2019-10-01, '2019' -> 2019-01-01."""
    if "-Q" in period:
        year, quarter = period.split("-Q")
        return date(int(year), 3 * int(quarter) - 2, 1)
    if len(period) == 7:
        return date(int(period[:4]), int(period[5:7]), 1)
    return date(int(period[:4]), 1, 1)


def next_start(start: date, period: str) -> date:
    """The first day of the period after the one starting at `start`."""
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def timeline(series: Sequence[SubstanceSeries], period: str) -> list[date]:
    """Every period start from the first counted to the one after the last, so a period
    with nothing counted is drawn as zero rather than skipped."""
    seen = {
        period_start(p)
        for s in series
        for counts in (s.offers, s.requests, s.seizures)
        for p in counts
    }
    if not seen:
        return []
    starts = [min(seen)]
    while starts[-1] <= max(seen):
        starts.append(next_start(starts[-1], period))
    return starts


def trend_chart(series: Sequence[SubstanceSeries], period: str) -> bytes:
    """Offers, requests and seizures per period for each substance, as steps (a period's
    count spans the whole period), with a vertical line at each scheduling date (element
    id `in-force-<substance key>`)."""
    with _DRAWING, matplotlib.rc_context(SVG_SETTINGS):
        figure = Figure(figsize=(10, 5.2), layout="constrained")
        axes = figure.add_subplot()
        starts = timeline(series, period)
        for number, item in enumerate(series):
            colour = PALETTE[number % len(PALETTE)]
            by_start = {
                name: {period_start(p): n for p, n in getattr(item, name).items()}
                for name, _, _ in COUNTS
            }
            for name, style, word in COUNTS:
                values = [by_start[name].get(start, 0) for start in starts]
                if any(values):
                    axes.step(starts, values, where="post", color=colour, linestyle=style,
                              linewidth=1.6, label=f"{item.name}: {word}")  # fmt: skip
            if item.in_force:
                day = date.fromisoformat(str(item.in_force)[:10])
                line = axes.axvline(day, color=colour, linestyle="-.", linewidth=1.2,
                                    label=f"{item.name}: scheduled {day.isoformat()}")  # fmt: skip
                line.set_gid(f"in-force-{item.key}")
        if starts:
            locator = AutoDateLocator()
            axes.xaxis.set_major_locator(locator)
            axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
            axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=8, frameon=False,
                        ncols=max(1, min(len(series), 3)))  # fmt: skip
        else:
            axes.text(0.5, 0.5, "No postings or seizures of these substances", ha="center",
                      va="center", transform=axes.transAxes)  # fmt: skip
        axes.set_ylabel(f"per {period}")
        axes.set_ylim(bottom=0)
        axes.grid(axis="y", color="#d9e2ec", linewidth=0.6)
        axes.spines[["top", "right"]].set_visible(False)
        out = io.BytesIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()
