"""The cockpit's charts: Matplotlib figures rendered on the server to inline SVG.

Server-side SVG needs no JavaScript and no network: the page works offline and prints. Each chart
puts the nights on the same date axis. Rendering costs tens of milliseconds per chart; the page
caches the SVG of a chart by the data it shows.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..handoffs import COST_STAGES

# one figure at a time: Matplotlib's text and font caches are not thread-safe
_LOCK = threading.Lock()
WIDTH, HEIGHT = 9.0, 2.6  # inches; the SVG scales to the page width
COLORS = {
    "promote": "#2e7d32",
    "approved": "#66bb6a",
    "forced": "#8e24aa",
    "reject": "#c62828",
    "refused": "#ef5350",
    "timeout": "#ff9800",
    "inconclusive": "#ff9800",
    "": "#9e9e9e",
}
STAGE_COLORS = ["#5c6bc0", "#26a69a", "#ffa726", "#ab47bc", "#ef5350", "#8d6e63", "#78909c", "#d4e157"]


def _render(draw: Callable[[Figure], None], height: float = HEIGHT) -> str:
    import matplotlib

    # text stays text in the SVG (selectable, small); no frame on top and right
    with (
        _LOCK,
        matplotlib.rc_context(
            {"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}
        ),
    ):
        # fixed margins (in inches), not a layout engine: constrained layout doubled the drawing time
        fig = Figure(figsize=(WIDTH, height))
        fig.subplots_adjust(left=0.8 / WIDTH, right=1 - 0.15 / WIDTH, bottom=0.55 / height, top=1 - 0.4 / height)
        draw(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]  # inline: drop the XML prolog and doctype


def _slot(nights: list[dict[str, Any]]) -> dict[str, int]:
    """Each night's place on the x axis: one slot per night, in order, whatever the gaps between
    their dates (a backfill of June beside last night's run stays readable)."""
    return {n["run_id"]: i for i, n in enumerate(nights)}


def _nights_axis(ax: Any, nights: list[dict[str, Any]]) -> None:
    """The same x axis on every chart: the nights, labelled by date (about 12 labels at most)."""
    step = max(1, -(-len(nights) // 12))
    ax.set_xlim(-0.7, max(len(nights), 1) - 0.3)
    ax.set_xticks(range(0, len(nights), step), [n["date"][5:] for n in nights[::step]])
    ax.grid(axis="y", alpha=0.3)


def _legend(ax: Any, columns: int) -> None:
    """Above the plot, so it never hides a night."""
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False, ncols=columns, borderaxespad=0.2)


def _empty(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, color="#757575")
    ax.set_xticks([])
    ax.set_yticks([])


def files(nights: list[dict[str, Any]]) -> str:
    """Files in per night: accepted and refused (stacked), failed runs marked."""

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        x = list(range(len(nights)))
        bad = [n["files_bad"] or 0 for n in nights]
        good = [max((n["files_in"] or 0) - b, 0) for n, b in zip(nights, bad, strict=True)]
        ax.bar(x, good, width=0.8, color="#66bb6a", label="accepted")
        ax.bar(x, bad, width=0.8, bottom=good, color="#ef5350", label="refused (quarantined)")
        failed = [i for i, n in zip(x, nights, strict=True) if n["state"] == "failed"]
        if failed:
            ax.plot(failed, [0] * len(failed), "x", color="#b71c1c", markersize=9, label="run failed")
        ax.set_ylabel("files")
        _legend(ax, 3)
        _nights_axis(ax, nights)

    return _render(draw)


def drift(nights: list[dict[str, Any]], threshold: float) -> str:
    """PSI of every feature per night (data the champion has not seen), with the threshold line."""

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        series: dict[str, list[tuple[int, float]]] = {}
        for i, n in enumerate(nights):
            for feature, psi in (n["drift"].get("psi") or {}).items():
                series.setdefault(feature, []).append((i, float(psi)))
        if not series:
            _empty(ax, "no drift measured yet (no data the champion has not seen)")
            return
        for feature, points in sorted(series.items()):
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, label=feature)
        ax.axhline(threshold, color="#c62828", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
        ax.set_ylabel("PSI")
        ax.set_ylim(bottom=0)
        _legend(ax, min(len(series) + 1, 6))
        _nights_axis(ax, nights)

    return _render(draw)


def metric(nights: list[dict[str, Any]], name: str, floor: float) -> str:
    """The candidate's gate metric with its interval, coloured by decision; the champion on the same
    holdout; the floor."""

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        slot = _slot(nights)
        scored = [n for n in nights if n["metric"]]
        if not scored:
            _empty(ax, "no candidate evaluated in these nights")
            return
        for outcome in dict.fromkeys(n["decision"] for n in scored):
            group = [n for n in scored if n["decision"] == outcome]
            x = [slot[n["run_id"]] for n in group]
            y = [n["metric"]["value"] for n in group]
            err = [
                [v - n["metric"]["low"] for v, n in zip(y, group, strict=True)],
                [n["metric"]["high"] - v for v, n in zip(y, group, strict=True)],
            ]
            ax.errorbar(
                x, y, yerr=err, fmt="o", capsize=3, color=COLORS.get(outcome, "#616161"), label=f"candidate: {outcome}"
            )
        champ = [(n, n["champion"]) for n in scored if n["champion"]]
        if champ:
            ax.plot(
                [slot[n["run_id"]] for n, _ in champ],
                [c["value"] for _, c in champ],
                "D",
                markerfacecolor="none",
                color="#1565c0",
                label="champion, same holdout",
            )
        ax.axhline(floor, color="#c62828", linestyle="--", linewidth=1, label=f"floor {floor:g}")
        ax.set_ylabel(name.removeprefix("holdout_"))
        _legend(ax, 5)
        _nights_axis(ax, nights)

    return _render(draw, height=HEIGHT + 0.4)


def champion(history: list[dict[str, Any]], now: str) -> str:
    """The champion's version over (wall-clock) time: a step per change, rollbacks marked. Not on
    the nights' axis: a backfill of old dates can move the champion after a newer night did."""
    import datetime as dt

    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num

    def when(stamp: str) -> float:
        return float(date2num(dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).replace(tzinfo=None)))

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        timed = [e for e in history if e["at"]]
        if not timed:
            _empty(ax, "no champion yet")
            return
        x = [when(e["at"]) for e in timed] + [when(now)]
        y = [int(e["version"]) for e in timed] + [int(timed[-1]["version"])]
        ax.step(x, y, where="post", color="#1565c0", linewidth=1.5)
        marks = {"before": ("o", "#9e9e9e"), "gate": ("o", "#2e7d32"), "approved": ("s", "#66bb6a")}
        marks |= {"forced": ("P", "#8e24aa"), "rollback": ("v", "#c62828")}
        for how, (marker, color) in marks.items():
            pts = [(when(e["at"]), int(e["version"])) for e in timed if e["how"] == how]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, marker, color=color, markersize=7, linestyle="none", label=how)
        ax.set_ylabel("champion version")
        ax.set_ylim(min(y) - 0.6, max(y) + 0.6)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        locator = AutoDateLocator(maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.grid(axis="y", alpha=0.3)
        _legend(ax, 5)

    return _render(draw, height=HEIGHT - 0.4)


def cost(nights: list[dict[str, Any]]) -> str:
    """Compute seconds per night by stage (stacked), and the trials' GPU-seconds."""

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        slot = _slot(nights)
        costed = [n for n in nights if (n["cost"] or {}).get("stages")]
        if not costed:
            _empty(ax, "no cost recorded (nights without a candidate)")
            return
        seen = {s for n in costed for s in n["cost"]["stages"]}
        stages = [s for s in COST_STAGES if s in seen] + sorted(seen - set(COST_STAGES))  # in the order of the flow
        x = [slot[n["run_id"]] for n in costed]
        bottom = [0.0] * len(costed)
        for i, stage in enumerate(stages):
            h = [float(n["cost"]["stages"].get(stage, 0.0)) for n in costed]
            ax.bar(x, h, width=0.8, bottom=bottom, color=STAGE_COLORS[i % len(STAGE_COLORS)], label=stage)
            bottom = [b + v for b, v in zip(bottom, h, strict=True)]
        gpu = [float(n["cost"].get("trial_gpu_seconds") or 0.0) for n in costed]
        if any(gpu):
            ax.plot(x, gpu, "k^", markersize=5, label="trial GPU-seconds")
        ax.set_ylabel("seconds (GPU-seconds: none)" if not any(gpu) else "seconds")
        _legend(ax, min(len(stages) + 1, 8))
        _nights_axis(ax, nights)

    return _render(draw)


def warm_up() -> None:
    """Draw one empty chart: Matplotlib's first figure loads fonts and caches (a few hundred ms)."""
    files([])
