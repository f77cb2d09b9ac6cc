"""A synthetic call: deterministic events and audio for tests, benchmarks and demos.

:func:`synthetic_call` drives a :class:`~voice_assist.store.CallRecorder` (or anything
with ``on_event``/``on_audio``) the way the runtime would: both legs' audio in 250 ms
chunks, prosody frames and distress updates at 4 Hz, partial and final transcripts with
word timings, distress episodes with a prompt each (followed, dismissed or expired), the
empathy score, metrics every second, and ``CallStarted``/``CallEnded``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from voice_assist import events as ev

SAMPLE_RATE_HZ = 16000
TICK_MS = 250

CUSTOMER_LINES = (
    "I have been waiting for my refund for three weeks now",
    "this is the third time I am calling about the same problem",
    "nobody has called me back and I am really fed up with this",
    "the internet keeps dropping every evening when I need it",
    "I was charged twice and I want the money back today",
    "can you tell me when the technician is going to come",
    "okay that sounds fine thank you",
    "I just want this sorted out please",
)
AGENT_LINES = (
    "thanks for calling how can I help you today",
    "let me pull up your account",
    "I can see where that would be extremely frustrating",
    "I am sorry this has taken so long let me fix it now",
    "I have raised a priority ticket for the technician",
    "the refund has been approved and will arrive in two days",
    "is there anything else I can help you with",
)


class Sink(Protocol):
    def on_event(self, event: ev.Event) -> None: ...

    def on_audio(self, channel: str, samples: np.ndarray) -> None: ...


@dataclass(frozen=True, slots=True)
class _Utterance:
    channel: ev.Channel
    start_ms: int
    end_ms: int
    text: str
    utterance_id: str


def _schedule(duration_ms: int, rng: np.random.Generator) -> list[_Utterance]:
    out: list[_Utterance] = []
    t = 500
    turn = 0
    while True:
        channel: ev.Channel = "agent" if turn % 2 == 0 else "customer"
        lines = AGENT_LINES if channel == "agent" else CUSTOMER_LINES
        length = int(rng.uniform(2500, 7000))
        if t + length > duration_ms - 300:
            break
        text = lines[int(rng.integers(len(lines)))]
        out.append(_Utterance(channel, t, t + length, text, f"{channel[0]}{turn}"))
        t += length + int(rng.uniform(400, 1500))
        turn += 1
    return out


def _words(u: _Utterance) -> tuple[ev.Word, ...]:
    parts = u.text.split()
    step = (u.end_ms - u.start_ms) / max(1, len(parts))
    return tuple(
        ev.Word(
            text=w,
            start_ms=int(u.start_ms + i * step),
            end_ms=int(u.start_ms + (i + 0.9) * step),
            probability=0.9,
        )
        for i, w in enumerate(parts)
    )


def synthetic_call(
    sink: Sink,
    *,
    call_id: str,
    duration_s: float = 60.0,
    seed: int = 0,
    audio: bool = True,
    agent_id: str = "agent-1",
    episode_every_s: float = 120.0,
) -> dict[str, int]:
    """Feed one synthetic call into ``sink``; return counts of what was sent.

    Distress follows a smooth curve with a bump (episode) every ``episode_every_s``
    (the first at 40% of that); each episode raises a prompt whose outcome cycles
    through followed, dismissed and expired.
    """
    rng = np.random.default_rng(seed)
    duration_ms = int(duration_s * 1000)
    utterances = _schedule(duration_ms, rng)
    centers = np.arange(episode_every_s * 0.4, duration_s - 5, episode_every_s) * 1000
    counts = {"events": 0, "audio_chunks": 0, "episodes": 0, "prompts": 0, "utterances": 0}

    def emit(e: ev.Event) -> None:
        sink.on_event(e)
        counts["events"] += 1

    emit(ev.CallStarted(call_id=call_id, t_ms=0, agent_id=agent_id, source="file"))
    chunk = SAMPLE_RATE_HZ * TICK_MS // 1000
    phase = {"customer": 0.0, "agent": 0.0}
    episode_open: str | None = None
    episode_peak = 0.0
    pending: list[tuple[int, ev.Event]] = []
    acked = 0
    latencies: list[int] = []
    episodes_seen = 0
    utt_idx = 0
    spoken: dict[str, _Utterance | None] = {"customer": None, "agent": None}
    last_partial: dict[str, int] = {"customer": 0, "agent": 0}

    for t in range(0, duration_ms, TICK_MS):
        # distress: baseline plus gaussian bumps
        bumps = np.exp(-0.5 * ((t - centers) / 9000.0) ** 2) * 0.75
        score = float(np.clip(0.15 + bumps.sum() + rng.normal(0, 0.02), 0.0, 1.0))
        speaking = {
            ch: next(
                (u for u in utterances[max(0, utt_idx - 2) : utt_idx + 3]
                 if u.channel == ch and u.start_ms <= t < u.end_ms),
                None,
            )
            for ch in ("customer", "agent")
        }  # fmt: skip
        while utt_idx < len(utterances) and utterances[utt_idx].end_ms <= t:
            utt_idx += 1
        for ch, u in speaking.items():
            prev = spoken[ch]
            if prev is not None and prev is not u:
                emit(_final(call_id, prev))
                counts["utterances"] += 1
            if u is not None and t - last_partial[ch] >= 1000:
                last_partial[ch] = t
                n = max(1, len(u.text.split()) * (t - u.start_ms) // (u.end_ms - u.start_ms))
                partial = " ".join(u.text.split()[:n])
                emit(ev.TranscriptEvent(
                    call_id=call_id, t_ms=t, channel=u.channel, utterance_id=u.utterance_id,
                    is_final=False, text=partial, start_ms=u.start_ms, end_ms=t,
                    stable_text=partial,
                ))  # fmt: skip
            spoken[ch] = u

        for ch in ev.CHANNELS:
            voiced = speaking[ch] is not None
            base_st = 22.0 if ch == "customer" else 14.0
            lift = 4.0 * score if ch == "customer" else 0.0
            f0_st = base_st + lift + 1.5 * math.sin(t / 700.0) if voiced else math.nan
            loud = (-20.0 + (8.0 * score if ch == "customer" else 0.0)) if voiced else -55.0
            emit(ev.ProsodyFrame(
                call_id=call_id, t_ms=t, channel=ch, voiced=voiced,
                features={"f0_st": f0_st, "loudness_db": loud + float(rng.normal(0, 1.0))},
            ))  # fmt: skip
            if audio:
                hz = 55.0 * 2 ** (base_st / 12.0)
                tt = np.arange(chunk) / SAMPLE_RATE_HZ
                amp = (0.25 + 0.3 * (score if ch == "customer" else 0.2)) if voiced else 0.004
                sig = np.sin(2 * np.pi * hz * tt + phase[ch]) * amp
                sig *= 0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * (tt + t / 1000.0)) ** 2
                phase[ch] += 2 * np.pi * hz * chunk / SAMPLE_RATE_HZ
                sig += rng.normal(0, 0.003, chunk)
                sink.on_audio(ch, sig.astype(np.float32))
                counts["audio_chunks"] += 1

        level: ev.DistressLevel = (
            "high" if score >= 0.75 else "elevated" if score >= 0.5 else "calm"
        )
        emit(ev.DistressUpdate(
            call_id=call_id, t_ms=t, channel="customer", score=score, level=level,
            provisional=t < 15000,
            features={"pitch_z": 3 * score, "loudness_z": 2 * score, "rate_z": score},
        ))  # fmt: skip

        if episode_open is None and score >= 0.6:
            episodes_seen += 1
            episode_open = f"ep{episodes_seen}"
            episode_peak = score
            counts["episodes"] += 1
            emit(ev.DistressEpisode(
                call_id=call_id, t_ms=t, channel="customer", episode_id=episode_open,
                state="start", peak=score, cause=("pitch", "loudness", "lexicon"),
            ))  # fmt: skip
            pid = f"p{episodes_seen}"
            counts["prompts"] += 1
            emit(ev.Prompt(
                call_id=call_id, t_ms=t + 120, prompt_id=pid, kind="pause_and_acknowledge",
                severity="warn", text="Pause and acknowledge",
                suggested_phrase="I can see where that would be extremely frustrating",
                evidence={"distress": round(score, 3), "cause": ["pitch", "loudness"]},
                ttl_ms=20000, episode_id=episode_open,
            ))  # fmt: skip
            pending.append((t + 300, ev.PromptAck(call_id=call_id, t_ms=t + 300, prompt_id=pid,
                                                  action="shown")))  # fmt: skip
            outcome = episodes_seen % 3
            if outcome == 1:
                react = 2500 + 500 * (episodes_seen % 4)
                pending.append(
                    (
                        t + react,
                        ev.PromptAck(
                            call_id=call_id, t_ms=t + react, prompt_id=pid, action="followed"
                        ),
                    )
                )
                pending.append(
                    (
                        t + react + 200,
                        ev.PromptClear(
                            call_id=call_id, t_ms=t + react + 200, prompt_id=pid, reason="followed"
                        ),
                    )
                )
                acked += 1
                latencies.append(react)
            elif outcome == 2:
                pending.append(
                    (
                        t + 4000,
                        ev.PromptAck(
                            call_id=call_id, t_ms=t + 4000, prompt_id=pid, action="dismissed"
                        ),
                    )
                )
                pending.append(
                    (
                        t + 4100,
                        ev.PromptClear(
                            call_id=call_id, t_ms=t + 4100, prompt_id=pid, reason="dismissed"
                        ),
                    )
                )
            else:
                pending.append(
                    (
                        t + 20120,
                        ev.PromptClear(
                            call_id=call_id, t_ms=t + 20120, prompt_id=pid, reason="expired"
                        ),
                    )
                )
        elif episode_open is not None:
            episode_peak = max(episode_peak, score)
            if score < 0.4:
                emit(ev.DistressEpisode(
                    call_id=call_id, t_ms=t, channel="customer", episode_id=episode_open,
                    state="end", peak=episode_peak, cause=("pitch", "loudness", "lexicon"),
                ))  # fmt: skip
                episode_open = None
                emit(ev.EmpathyScore(
                    call_id=call_id, t_ms=t, episodes=episodes_seen, acknowledged=acked,
                    ack_latency_ms=tuple(latencies),
                ))  # fmt: skip

        due = [e for when, e in pending if when <= t]
        pending = [(when, e) for when, e in pending if when > t]
        for e in due:
            emit(e)

        if t % 1000 == 0:
            emit(ev.CallMetrics(
                call_id=call_id, t_ms=t, distress=score, distress_slope_per_s=0.0, level=level,
                agent_talk_ratio=0.45, agent_words_per_min=150.0, overtalk_ms=0, silence_ms=0,
            ))  # fmt: skip

    for ch_u in spoken.values():
        if ch_u is not None:
            emit(_final(call_id, ch_u))
            counts["utterances"] += 1
    for _, e in pending:
        emit(e)
    emit(ev.EmpathyScore(
        call_id=call_id, t_ms=duration_ms, episodes=episodes_seen, acknowledged=acked,
        ack_latency_ms=tuple(latencies),
    ))  # fmt: skip
    emit(ev.CallEnded(call_id=call_id, t_ms=duration_ms, reason="hangup", duration_ms=duration_ms))
    return counts


def _final(call_id: str, u: _Utterance) -> ev.TranscriptEvent:
    return ev.TranscriptEvent(
        call_id=call_id, t_ms=u.end_ms, channel=u.channel, utterance_id=u.utterance_id,
        is_final=True, text=u.text, start_ms=u.start_ms, end_ms=u.end_ms,
        stable_text=u.text, words=_words(u),
    )  # fmt: skip
