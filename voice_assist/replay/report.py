"""Post-call report: one page (matplotlib) with the call's tone and the empathy result.

Distress timeline with the level thresholds, distress episodes (shaded) and prompts
(markers coloured by outcome, with the time the agent took to follow them); pitch and
loudness of both legs below on the same time axis; a side panel with the empathy
summary and the prompt list.  ``--html`` wraps the same picture with the tables and the
transcript in one self-contained file.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from voice_assist.replay.query import EmpathySummary, empathy_summary
from voice_assist.store.reader import CallSummary, StoreReader

CUSTOMER = "#d9480f"
AGENT = "#1c7ed6"
DISTRESS = "#c92a2a"
OUTCOME_COLORS = {
    "followed": "#2f9e44",
    "dismissed": "#f08c00",
    "expired": "#868e96",
    "open": "#868e96",
}


@dataclass(frozen=True, slots=True)
class CallReport:
    """Everything the report shows, read from the store."""

    call: CallSummary
    timeline: dict[str, list[Any]]
    episodes: list[dict[str, Any]]
    prompts: list[dict[str, Any]]
    transcript: list[dict[str, Any]]
    summary: EmpathySummary


def load_report(store: StoreReader, call_id: str) -> CallReport:
    """Read one call for the report (raises CallNotFoundError / CorruptCallError)."""
    call = store.get_call(call_id)
    prompts = store.prompts(call_id)
    episodes = store.episodes(call_id)
    return CallReport(
        call=call,
        timeline=store.timeline(call_id),
        episodes=episodes,
        prompts=prompts,
        transcript=store.transcript(call_id, words=False),
        summary=empathy_summary(store.empathy(call_id), prompts, episodes),
    )


def prompt_outcome(p: dict[str, Any]) -> tuple[str, str]:
    """``(kind, text)`` for a prompt: followed (with time), dismissed, expired or open."""
    if p["followed"]:
        return "followed", f"followed in {p['response_ms'] / 1000:.1f} s"
    if p["ack_action"] == "dismissed" or p["clear_reason"] == "dismissed":
        return "dismissed", "dismissed"
    if p["clear_reason"]:
        return "expired", str(p["clear_reason"])
    return "open", "no reaction"


def _mmss(ms: float) -> str:
    s = max(0, int(ms // 1000))
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def _col(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _started(call: CallSummary) -> str:
    return datetime.fromtimestamp(call.started_at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_png(report: CallReport, *, dpi: int = 100) -> bytes:
    """The one-page picture as PNG bytes (14 x 9 inches)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    call = report.call
    tl = report.timeline
    t_s = np.array(tl["t_ms"], dtype=float) / 1000.0
    duration_s = max(call.duration_ms / 1000.0, float(t_s[-1]) if len(t_s) else 0.0, 1.0)

    fig = Figure(figsize=(14, 9), dpi=dpi)
    grid = fig.add_gridspec(
        3, 2, width_ratios=(3.2, 1.0), height_ratios=(1.6, 1.0, 1.0),
        left=0.06, right=0.98, top=0.9, bottom=0.07, wspace=0.08, hspace=0.12,
    )  # fmt: skip
    ax_d = fig.add_subplot(grid[0, 0])
    ax_p = fig.add_subplot(grid[1, 0], sharex=ax_d)
    ax_l = fig.add_subplot(grid[2, 0], sharex=ax_d)
    ax_txt = fig.add_subplot(grid[:, 1])
    ax_txt.axis("off")

    fig.suptitle(
        f"Call {call.call_id}  ·  agent {call.agent_id}  ·  {_started(call)}  ·  "
        f"{_mmss(call.duration_ms)}  ·  {call.status}",
        x=0.06, ha="left", fontsize=14, fontweight="bold",
    )  # fmt: skip

    for ax in (ax_d, ax_p, ax_l):
        for e in report.episodes:
            end = e["end_ms"] if e["end_ms"] is not None else duration_s * 1000
            ax.axvspan(e["start_ms"] / 1000, end / 1000, color=DISTRESS, alpha=0.10, lw=0)
        ax.grid(True, color="#e9ecef", lw=0.8)
        ax.set_xlim(0, duration_s)

    # distress
    distress = _col(tl["distress"])
    ax_d.fill_between(t_s, 0, np.nan_to_num(distress), color=DISTRESS, alpha=0.12, lw=0)
    ax_d.plot(t_s, distress, color=DISTRESS, lw=1.3, label="customer distress")
    for level, name in ((0.5, "elevated"), (0.75, "high")):
        ax_d.axhline(level, color="#adb5bd", lw=0.9, ls="--")
        ax_d.text(0.003, level + 0.015, name, transform=ax_d.get_yaxis_transform(),
                  fontsize=8, color="#868e96")  # fmt: skip
    ax_d.set_ylim(0, 1.12)
    ax_d.set_ylabel("distress")
    for p in report.prompts:
        kind, _ = prompt_outcome(p)
        color = OUTCOME_COLORS[kind]
        x = p["t_ms"] / 1000
        ax_d.plot([x], [1.06], marker="v", ms=10, color=color, zorder=5)
        if kind == "followed":
            ax_d.plot([x, x + p["response_ms"] / 1000], [1.0, 1.0], color=color, lw=3, alpha=0.6)
            label = f"✓ {p['response_ms'] / 1000:.1f} s"
        else:
            label = "✗" if kind == "dismissed" else "–"
        ax_d.annotate(label, (x, 1.06), xytext=(7, -3), textcoords="offset points",
                      fontsize=8, color=color)  # fmt: skip
    handles = [
        ax_d.plot([], [], marker="v", ls="", color=c, label=f"prompt {k}")[0]
        for k, c in OUTCOME_COLORS.items()
        if k != "open"
    ]
    episode_patch = ax_d.fill_between([], [], color=DISTRESS, alpha=0.2, label="distress episode")
    ax_d.legend(handles=[ax_d.lines[0], episode_patch, *handles], loc="upper right",
                fontsize=8, ncol=5, frameon=False, bbox_to_anchor=(1.0, 1.12))  # fmt: skip

    # pitch and loudness
    for ax, cols, ylabel in (
        (ax_p, ("customer_pitch_st", "agent_pitch_st"), "pitch (st re 55 Hz)"),
        (ax_l, ("customer_loudness_db", "agent_loudness_db"), "loudness (dB)"),
    ):
        ax.plot(t_s, _col(tl[cols[1]]), color=AGENT, lw=0.9, label="agent")
        ax.plot(t_s, _col(tl[cols[0]]), color=CUSTOMER, lw=0.9, label="customer")
        ax.set_ylabel(ylabel)
        ax.legend(loc="upper right", fontsize=8, ncol=2, frameon=False)
    for ax in (ax_d, ax_p):
        ax.tick_params(labelbottom=False)
    step_s = next(
        (s for s in (5, 10, 15, 30, 60, 120, 300, 600, 900) if duration_s / s <= 12), 1800
    )
    ax_l.xaxis.set_major_locator(MultipleLocator(step_s))
    ax_l.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _mmss(v * 1000)))
    ax_l.set_xlabel("call time")

    # side panel
    s = report.summary
    ok = s.episodes == 0 or s.acknowledged == s.episodes
    ax_txt.text(0.02, 0.99, "Empathy", fontsize=13, fontweight="bold", va="top")
    headline = f"{s.acknowledged} / {s.episodes} acknowledged" if s.episodes else "no episodes"
    ax_txt.text(0.02, 0.94, headline, fontsize=16, va="top",
                color="#2f9e44" if ok else DISTRESS, fontweight="bold")  # fmt: skip
    lines = [
        f"median time to acknowledge: {s.median_ack_ms / 1000:.1f} s"
        if s.median_ack_ms is not None else "median time to acknowledge: -",
        f"prompts followed: {s.prompts_followed} of {s.prompts}",
        f"peak distress: {call.max_distress:.2f}" if call.max_distress is not None
        else "peak distress: -",
        f"utterances: {len(report.transcript)}",
    ]  # fmt: skip
    if call.dropped_items or call.dropped_audio_ms:
        lines.append(f"store lost {call.dropped_items} events, {call.dropped_audio_ms} ms audio")
    ax_txt.text(0.02, 0.87, "\n".join(lines), fontsize=10, va="top", linespacing=1.6)
    ax_txt.text(0.02, 0.66, "Prompts", fontsize=12, fontweight="bold", va="top")
    y = 0.62
    for p in report.prompts[:18]:
        kind, text = prompt_outcome(p)
        ax_txt.text(0.02, y, _mmss(p["t_ms"]), fontsize=9, va="top", family="monospace")
        ax_txt.text(0.22, y, text, fontsize=9, va="top", color=OUTCOME_COLORS[kind])
        y -= 0.032
    if len(report.prompts) > 18:
        ax_txt.text(0.02, y, f"... and {len(report.prompts) - 18} more", fontsize=9, va="top")
    if not report.prompts:
        ax_txt.text(0.02, y, "none", fontsize=9, va="top", color="#868e96")

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def render_html(report: CallReport, png: bytes) -> str:
    """A self-contained HTML page: the picture, episodes, prompts and the transcript."""
    call = report.call
    e = html.escape
    img = base64.b64encode(png).decode("ascii")
    ep_rows = "".join(
        f"<tr><td>{_mmss(x['start_ms'])}</td>"
        f"<td>{_mmss(x['end_ms']) if x['end_ms'] is not None else '-'}</td>"
        f"<td>{x['peak']:.2f}</td><td>{e(', '.join(map(str, x['cause'] or [])))}</td></tr>"
        for x in report.episodes
    )
    pr_rows = "".join(
        f"<tr><td>{_mmss(p['t_ms'])}</td><td>{e(p['text'])}</td>"
        f"<td>{e(p['suggested_phrase'])}</td><td class='{prompt_outcome(p)[0]}'>"
        f"{e(prompt_outcome(p)[1])}</td></tr>"
        for p in report.prompts
    )
    tr_rows = "".join(
        f"<tr><td>{_mmss(u['start_ms'])}</td><td class='{e(u['channel'])}'>{e(u['channel'])}</td>"
        f"<td>{e(u['text'])}</td></tr>"
        for u in report.transcript
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Call {e(call.call_id)}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2330; }}
img {{ max-width: 100%; border: 1px solid #e3e6eb; }}
table {{ border-collapse: collapse; margin: 8px 0 20px; }}
td, th {{ padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }}
th {{ color: #667085; font-weight: 500; border-bottom: 1px solid #e3e6eb; }}
.customer {{ color: {CUSTOMER}; font-weight: 600; }} .agent {{ color: {AGENT}; font-weight: 600; }}
.followed {{ color: #2f9e44; }} .dismissed {{ color: #f08c00; }}
.expired, .open {{ color: #868e96; }}
</style></head><body>
<h1>Call {e(call.call_id)}</h1>
<p>agent {e(call.agent_id)} · {e(call.source)} · {_started(call)} · {_mmss(call.duration_ms)}
· {e(call.status)}{(" (" + e(call.end_reason) + ")") if call.end_reason else ""}</p>
<p><strong>{e(report.summary.sentence())}</strong></p>
<img alt="call tone report" src="data:image/png;base64,{img}">
<h2>Distress episodes</h2>
<table><tr><th>start</th><th>end</th><th>peak</th><th>cause</th></tr>{ep_rows}</table>
<h2>Prompts</h2>
<table><tr><th>time</th><th>prompt</th><th>suggested</th><th>outcome</th></tr>{pr_rows}</table>
<h2>Transcript</h2>
<table><tr><th>time</th><th>leg</th><th>text</th></tr>{tr_rows}</table>
</body></html>
"""


def write_report(
    store: StoreReader, call_id: str, *, png: Path | None = None, html_path: Path | None = None
) -> CallReport:
    """Write the PNG and/or HTML report of ``call_id``; returns what was shown."""
    report = load_report(store, call_id)
    image = render_png(report)
    if png is not None:
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(image)
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_html(report, image), encoding="utf-8")
    return report
