"""Query helpers for replay: one call's data shaped for display, and its empathy summary.

:func:`replay_data` is what the replay page loads: the timeline and the waveform reduced
to at most ``max_points`` points (distress and peaks keep their maxima, pitch and loudness
are averaged), the transcript without word timings, episodes, prompts with their outcome,
and the empathy result.  A 30-minute call comes to a few hundred kilobytes of JSON.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np

from voice_assist.store import AudioArchiveError
from voice_assist.store.reader import StoreReader

DEFAULT_MAX_POINTS = 2000
_MEAN_COLUMNS = ("customer_pitch_st", "customer_loudness_db", "agent_pitch_st", "agent_loudness_db")


def _bins(n: int, max_points: int) -> int:
    return max(1, math.ceil(n / max(1, max_points)))


def reduce_max(values: np.ndarray, max_points: int) -> np.ndarray:
    """Max over consecutive bins so that at most ``max_points`` remain (NaN ignored)."""
    k = _bins(len(values), max_points)
    if k == 1 or not len(values):
        return values
    pad = (-len(values)) % k
    padded = np.concatenate([values, np.full(pad, np.nan)]) if pad else values
    blocks = padded.reshape(-1, k)
    out = np.full(len(blocks), np.nan)
    ok = ~np.all(np.isnan(blocks), axis=1)
    out[ok] = np.nanmax(blocks[ok], axis=1)
    return out


def reduce_mean(values: np.ndarray, max_points: int) -> np.ndarray:
    """Mean over consecutive bins so that at most ``max_points`` remain (NaN ignored)."""
    k = _bins(len(values), max_points)
    if k == 1 or not len(values):
        return values
    pad = (-len(values)) % k
    padded = np.concatenate([values, np.full(pad, np.nan)]) if pad else values
    blocks = padded.reshape(-1, k)
    out = np.full(len(blocks), np.nan)
    ok = ~np.all(np.isnan(blocks), axis=1)
    out[ok] = np.nanmean(blocks[ok], axis=1)
    return out


def _column(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _listed(values: np.ndarray, digits: int = 3) -> list[float | None]:
    return [None if not math.isfinite(v) else round(float(v), digits) for v in values]


def reduce_timeline(
    timeline: dict[str, list[Any]], max_points: int, *, hop_ms: int | None = None
) -> dict[str, Any]:
    """The stored timeline columns on a regular grid, reduced to at most ``max_points`` rows.

    Buckets with no row (lost to a crash or a full queue) become None, so a chart shows a
    gap there instead of a straight line across it.
    """
    t = timeline["t_ms"]
    if hop_ms is None:
        diffs = np.diff(np.asarray(t, dtype=np.int64)) if len(t) > 1 else np.array([250])
        hop_ms = int(diffs.min()) if len(diffs) and diffs.min() > 0 else 250
    n = (t[-1] // hop_ms + 1) if t else 0
    idx = np.asarray(t, dtype=np.int64) // hop_ms

    def grid(values: list[Any]) -> np.ndarray:
        out = np.full(n, np.nan)
        out[idx] = _column(values)
        return out

    k = _bins(n, max_points)
    out: dict[str, Any] = {
        "hop_ms": hop_ms * k,
        "t_ms": [int(i * hop_ms * k) for i in range(math.ceil(n / k))] if n else [],
    }
    out["distress"] = _listed(reduce_max(grid(timeline["distress"]), max_points))
    for name in _MEAN_COLUMNS:
        out[name] = _listed(reduce_mean(grid(timeline[name]), max_points), 2)
    return out


@dataclass(frozen=True, slots=True)
class EmpathySummary:
    episodes: int
    acknowledged: int
    median_ack_ms: int | None
    prompts: int
    prompts_followed: int

    def sentence(self) -> str:
        if self.episodes == 0:
            return "No distress episodes."
        text = f"{self.acknowledged} of {self.episodes} distress episodes acknowledged"
        if self.median_ack_ms is not None:
            text += f" (median {self.median_ack_ms / 1000:.1f} s)"
        return text + f"; {self.prompts_followed} of {self.prompts} prompts followed."


def empathy_summary(
    empathy: dict[str, Any] | None, prompts: list[dict[str, Any]], episodes: list[dict[str, Any]]
) -> EmpathySummary:
    """The empathy result of a call; falls back to its episodes when no score was stored."""
    if empathy is not None:
        n_ep, n_ack = empathy["episodes"], empathy["acknowledged"]
        lat = empathy["ack_latency_ms"]
    else:
        n_ep = len(episodes)
        lat = [p["response_ms"] for p in prompts if p["followed"] and p["response_ms"] is not None]
        n_ack = len(lat)
    return EmpathySummary(
        episodes=n_ep,
        acknowledged=n_ack,
        median_ack_ms=int(statistics.median(lat)) if lat else None,
        prompts=len(prompts),
        prompts_followed=sum(1 for p in prompts if p["followed"]),
    )


def replay_data(
    store: StoreReader, call_id: str, *, max_points: int = DEFAULT_MAX_POINTS
) -> dict[str, Any]:
    """Everything the replay page draws, reduced for display.

    Raises
    ------
    CallNotFoundError
        No such call.
    CorruptCallError
        One of its rows is damaged.
    """
    max_points = max(100, min(int(max_points), 20000))
    call = store.get_call(call_id)
    prompts = store.prompts(call_id)
    episodes = store.episodes(call_id)
    empathy = store.empathy(call_id)
    wave = store.waveform(call_id)
    try:
        store.audio_path(call_id)
        audio: dict[str, Any] = {"available": True, "reason": None}
    except AudioArchiveError as exc:
        audio = {"available": False, "reason": str(exc), "code": exc.code}
    k = _bins(len(wave.customer), max_points)
    summary = empathy_summary(empathy, prompts, episodes)
    return {
        "call": call.to_json(),
        "duration_ms": call.duration_ms,
        "audio": audio,
        "waveform": {
            "hop_ms": wave.hop_ms * k,
            "customer": _listed(reduce_max(wave.customer.astype(np.float64), max_points)),
            "agent": _listed(reduce_max(wave.agent.astype(np.float64), max_points)),
        },
        "timeline": reduce_timeline(store.timeline(call_id), max_points),
        "transcript": store.transcript(call_id, words=False),
        "episodes": episodes,
        "prompts": prompts,
        "empathy": empathy,
        "summary": {
            "episodes": summary.episodes,
            "acknowledged": summary.acknowledged,
            "median_ack_ms": summary.median_ack_ms,
            "prompts": summary.prompts,
            "prompts_followed": summary.prompts_followed,
            "sentence": summary.sentence(),
        },
    }
