"""How the charts look: one style context, colours that read without colour, figure helpers.

The figures are built without pyplot (no global figure registry, no ``show()``) inside the
``STYLE`` context, so building one changes no global matplotlib state. Colours come from cividis
(readable with colour-vision deficiencies, monotonic lightness) and are always paired with a
second cue (hatching, marker shape or fill), so the charts also read in greyscale print.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.style as mstyle
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from hunting_lib.report.labels import short_label

__all__ = ["CMAP", "HATCHES", "MARKERS", "STYLE", "ink_on", "naive_utc", "new_figure", "nothing_to_show", "palette",
           "plain_log_axis"]

# Applied only while a figure is built: the caller's rcParams are left as they were. usetex and
# parse_math are pinned because short_label's escaping assumes plain text with mathtext on.
STYLE: dict[str, object] = {
    "text.usetex": False,
    "text.parse_math": True,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titlelocation": "left",
    "axes.labelsize": 9.5,
    "figure.titlesize": 12,
    "figure.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "0.88",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "hatch.linewidth": 0.7,
    "image.cmap": "cividis",
}

CMAP = "cividis"
# Thirty-two distinct fills, enough for every signal in scoring.yaml to have its own.
HATCHES = ["", "///", "...", "xxx", "\\\\\\", "+++", "ooo", "---", "|||", "**", "OO", "//..", "xx..",
           "\\\\||", "-..", "++oo", "//oo", "||..", "--oo", "xx**", "\\\\..", "++..", "|**", "-**", "/**",
           "oo..", "OO..", "x|", "+/", "o-", "*|", "O/"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "p", "h"]


def new_figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A pyplot-free figure: nothing is registered globally, so nothing leaks between cells."""
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def nothing_to_show(title: str, message: str) -> Figure:
    """A small figure that says why there is no chart, instead of raising or drawing empty axes."""
    with mstyle.context(STYLE):
        fig, ax = new_figure(8, 2.2)
        fig.suptitle(title)
        ax.set_axis_off()
        ax.text(0.5, 0.5, short_label(message, 200), ha="center", va="center", fontsize=11,
                color="0.25", transform=ax.transAxes, wrap=True)
    return fig


def palette(n: int) -> list[tuple[float, float, float]]:
    """``n`` cividis colours, ordered so that neighbours differ strongly in lightness."""
    if n <= 0:
        return []
    values = np.linspace(0.0, 0.95, n)
    order = np.empty(n, dtype=int)
    half = (n + 1) // 2
    order[0::2] = np.arange(half)
    order[1::2] = np.arange(half, n)
    cmap = mpl.colormaps[CMAP]
    return [tuple(cmap(values[i])[:3]) for i in order]


def _luminance(colour: object) -> float:
    r, g, b = to_rgb(colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ink_on(colour: object) -> str:
    """Black or white, whichever reads on ``colour``."""
    return "black" if _luminance(colour) > 0.45 else "white"


def naive_utc(stamps: pd.Series) -> pd.Series:
    """Timestamps as naive UTC, which matplotlib's date axis takes without a time zone setting."""
    stamps = pd.to_datetime(stamps, utc=True)
    return stamps.dt.tz_localize(None)


def plain_log_axis(axis) -> None:
    """Log axis ticks as plain numbers at 1, 2, 5, 10, 20, ... (not 10^n mathtext)."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_locator(LogLocator(base=10, subs="auto"))
    axis.set_minor_formatter(NullFormatter())

