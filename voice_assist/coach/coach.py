"""The coaching policy: events in, prompts, clears, empathy scores, alerts and metrics out.

:class:`Coach` is a synchronous, I/O-free core for one call.  Feed it every event of the
call with :meth:`Coach.on_event`, call :meth:`Coach.tick` regularly (prompt expiry and
CallMetrics) and :meth:`Coach.finish` at the end.  All times are the media-clock ``t_ms``
of the events; the coach's clock never runs backwards (an older ``t_ms`` counts as "now").

The policy (docs/design.md, "What the coaching is based on"):

``pause_and_acknowledge`` (urgent)
    when a customer distress episode starts; the suggested phrase names the likely feeling
    and is chosen by the episode's cause.  A newer one supersedes an older one.
``be_present`` (warn)
    when the agent talks over a distressed customer for ``overtalk_min_ms``, or goes
    straight to process ("can I have your account number") before acknowledging an open
    episode.
``return_to_solving`` (info)
    once the agent has acknowledged an episode and the customer has calmed.
``script`` (info)
    robotic script lines in the agent's finals, with a better line.

An acknowledgement in the agent's words clears the pause prompt ("followed") and records
the latency for the empathy test; an EmpathyScore goes out whenever it changes and at the
end.  Alerts for the supervisor: an episode started; a pause prompt expired unanswered.
"""

from __future__ import annotations

import dataclasses

from voice_assist.coach.acknowledgement import Acknowledgement, find_acknowledgement
from voice_assist.coach.distress_track import DistressTrack
from voice_assist.coach.empathy import EmpathyTest, EpisodeRecord
from voice_assist.coach.phrases import PhraseLibrary
from voice_assist.coach.process_talk import find_process_talk
from voice_assist.coach.prompt_book import OpenPrompt, PromptBook, Severity
from voice_assist.coach.script_lines import ScriptKind, ScriptLineDetector, is_complaint
from voice_assist.coach.textnorm import normalize
from voice_assist.coach.turns import TurnTracker
from voice_assist.config import CoachOptions
from voice_assist.events import (
    CHANNELS,
    Alert,
    DistressEpisode,
    DistressUpdate,
    Event,
    PromptAck,
    TranscriptEvent,
    VoiceActivity,
)
from voice_assist.logutil import call_logger

SCRIPT_ORDER: tuple[ScriptKind, ...] = (
    "taking_sides",
    "know_how_you_feel",
    "stock_reply",
    "repeated_understand",
)
"""When one utterance has several script lines, the first of these is the one nudged."""


class Coach:
    """Coaching policy for one call.

    Parameters
    ----------
    call_id
        Stamped on every event the coach emits; prompt and alert ids derive from it.
    options
        ``[coach]`` settings.
    phrases
        The phrase library (:func:`voice_assist.coach.phrases.load_phrases`).
    mixed_leg
        The customer leg carries both voices (see ``CoachOptions.mixed_leg_prompts``).
    """

    def __init__(
        self,
        *,
        call_id: str,
        options: CoachOptions,
        phrases: PhraseLibrary,
        mixed_leg: bool = False,
    ) -> None:
        self.call_id = call_id
        self.mixed_leg = mixed_leg
        self.options = options
        self.phrases = phrases
        self._log = call_logger(__name__, call_id)
        self._now_ms = 0
        self._finished = False
        self._turns = TurnTracker(speaking_rate_window_ms=options.speaking_rate_window_ms)
        self._distress = DistressTrack()
        self._empathy = EmpathyTest(ack_window_ms=options.ack_window_ms)
        self._book = PromptBook(
            call_id=call_id,
            ttl_ms=options.prompt_ttl_ms,
            min_gap_ms=options.min_prompt_gap_ms,
            max_open=options.max_open_prompts,
        )
        self._scripts = ScriptLineDetector(repeat_window_ms=options.script_repeat_window_ms)
        self._n_alerts = 0
        self._last_alert_ms: dict[str, int] = {}
        self._next_metrics_ms = 0
        self._uses: dict[str, int] = {}
        self._last_empathy: tuple[int, int, tuple[int, ...]] = (0, 0, ())
        self._overtalk_seen_run = 0
        self._customer_text = ""
        self._customer_utterance_id = ""
        self._customer_end_ms: int | None = None
        self._customer_complained = False
        self._agent_replied = True

    # -- public API ------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """The coach's clock: the latest ``t_ms`` seen."""
        return self._now_ms

    def on_event(self, ev: Event) -> list[Event]:
        """Consume one event of the call; returns the events the coach emits in response.

        Consumes TranscriptEvent (both legs, partial and final), VoiceActivity,
        DistressUpdate, DistressEpisode (customer leg) and PromptAck; other events, events
        on an unknown channel and anything after :meth:`finish` are ignored.
        """
        if self._finished:
            return []
        channel = getattr(ev, "channel", "customer")
        if channel not in CHANNELS:
            self._log.debug("ignoring %s on unknown channel %r", type(ev).__name__, channel)
            return []
        if isinstance(ev, TranscriptEvent):
            return self._on_transcript(ev)
        if isinstance(ev, VoiceActivity):
            out = self._advance(ev.t_ms)
            self._turns.on_voice_activity(ev.channel, bool(ev.speaking), self._now_ms)
            return out
        if isinstance(ev, DistressUpdate):
            return self._on_distress(ev) if ev.channel == "customer" else []
        if isinstance(ev, DistressEpisode):
            return self._on_episode(ev) if ev.channel == "customer" else []
        if isinstance(ev, PromptAck):
            return self._on_prompt_ack(ev)
        return []

    def tick(self, t_ms: int) -> list[Event]:
        """Advance the clock: expire prompts, and emit CallMetrics every metrics interval."""
        if self._finished:
            return []
        out = self._advance(t_ms)
        if self._now_ms >= self._next_metrics_ms:
            out.append(self._turns.metrics(call_id=self.call_id, distress=self._distress))
            self._next_metrics_ms = self._now_ms + max(1, self.options.metrics_interval_ms)
        return out

    def finish(self, t_ms: int) -> list[Event]:
        """End of call: clear open prompts ("call_ended") and emit the final EmpathyScore.

        Idempotent: a second call returns nothing.
        """
        if self._finished:
            return []
        out = self._advance(t_ms)
        out.extend(self._book.clear_where(lambda p: True, "call_ended", self._now_ms))
        out.append(self._empathy.score(call_id=self.call_id, t_ms=self._now_ms))
        self._last_empathy = self._empathy.summary()
        self._finished = True
        return out

    def empathy_episodes(self) -> list[EpisodeRecord]:
        """The call's distress episodes and what the agent did about them (copies)."""
        return [
            dataclasses.replace(rec, prompt_ids=list(rec.prompt_ids))
            for rec in self._empathy.episodes()
        ]

    # -- clock -----------------------------------------------------------------------------

    def _advance(self, t_ms: int) -> list[Event]:
        try:
            t = int(t_ms)
        except (TypeError, ValueError, OverflowError):  # NaN or junk: treat as "now"
            t = self._now_ms
        if t > self._now_ms:
            self._now_ms = t
        self._turns.advance(self._now_ms)
        out = self._expire()
        out.extend(self._check_overtalk())
        return out

    def _expire(self) -> list[Event]:
        out: list[Event] = []
        for entry, cleared in self._book.expire(self._now_ms):
            out.append(cleared)
            if entry.kind != "pause_and_acknowledge":
                continue
            unanswered = [
                eid
                for eid in sorted(entry.episode_ids)
                if (rec := self._empathy.get(eid)) is not None and not rec.acknowledged
            ]
            if unanswered:
                out.extend(
                    self._alert(
                        "prompt_unacknowledged",
                        "warn",
                        f"Pause prompt expired without an acknowledgement "
                        f"(episode {', '.join(unanswered)}).",
                    )
                )
        return out

    # -- inputs ----------------------------------------------------------------------------

    def _on_transcript(self, ev: TranscriptEvent) -> list[Event]:
        out = self._advance(ev.t_ms)
        self._turns.on_transcript(ev)
        if not ev.is_final:
            return out
        text = ev.text if isinstance(ev.text, str) else ""
        if ev.channel == "customer":
            if text.strip():
                self._customer_text = text.strip()
                self._customer_utterance_id = ev.utterance_id
                self._customer_end_ms = int(ev.end_ms)
                self._customer_complained = is_complaint(text) or self._distressed()
                self._agent_replied = False
            return out
        if text.strip():
            out.extend(self._on_agent_final(ev, text))
        return out

    def _on_distress(self, ev: DistressUpdate) -> list[Event]:
        out = self._advance(ev.t_ms)
        self._distress.on_update(ev, self._now_ms)
        if self._distress.level == "calm":
            # A calm update after the acknowledgement: the customer signals it is fine to go on.
            for rec in self._empathy.episodes():
                if rec.acknowledged and not rec.returned:
                    out.extend(self._return_to_solving(rec, reason="level_calm"))
        return out

    def _on_episode(self, ev: DistressEpisode) -> list[Event]:
        out = self._advance(ev.t_ms)
        peak = _finite(ev.peak)
        if ev.state == "start":
            if self.mixed_leg and not self.options.mixed_leg_prompts:
                self._log.info("episode %s on a mixed leg: not prompted", ev.episode_id)
                return out
            rec = self._empathy.start(
                str(ev.episode_id), t_ms=self._now_ms, peak=peak, cause=tuple(map(str, ev.cause))
            )
            if rec is None:
                return out
            out.extend(self._pause_and_acknowledge(rec))
            out.extend(self._empathy_if_changed())
            severity: Severity = "urgent" if peak >= self.options.urgent_alert_min_peak else "warn"
            causes = ", ".join(rec.cause) or "unknown cause"
            out.extend(
                self._alert(
                    "distress_episode",
                    severity,
                    f"Customer distress episode {rec.episode_id} ({causes}), peak {peak:.2f}.",
                )
            )
        elif ev.state == "end":
            rec = self._empathy.end(str(ev.episode_id), t_ms=self._now_ms, peak=peak)
            if rec is not None and rec.acknowledged:
                out.extend(self._return_to_solving(rec, reason="episode_ended"))
        return out

    def _on_prompt_ack(self, ev: PromptAck) -> list[Event]:
        out = self._advance(ev.t_ms)
        entry = self._book.get(ev.prompt_id)
        if entry is None:
            return out
        if ev.action == "shown":
            entry.shown = True
        elif ev.action == "dismissed":
            out.extend(_some(self._book.clear(entry.prompt_id, "dismissed", self._now_ms)))
        elif ev.action == "followed":
            out.extend(_some(self._book.clear(entry.prompt_id, "followed", self._now_ms)))
            if entry.kind == "pause_and_acknowledge" and entry.episode_ids:
                out.extend(
                    self._acknowledged(
                        at_ms=self._now_ms,
                        said_by_ms=self._now_ms,
                        source="overlay",
                        phrase="",
                        episode_ids=set(entry.episode_ids),
                    )
                )
        return out

    def _on_agent_final(self, ev: TranscriptEvent, text: str) -> list[Event]:
        out: list[Event] = []
        end_ms = max(int(ev.end_ms), int(ev.start_ms))
        ack = find_acknowledgement(text)
        if ack is not None:
            out.extend(
                self._acknowledged(
                    at_ms=_time_of(ev, ack),
                    said_by_ms=end_ms,
                    source="transcript",
                    phrase=ack.phrase,
                    episode_ids=None,
                )
            )
        process = find_process_talk(text)
        if process is not None:
            # Back to solving: the return_to_solving prompt has been followed.
            out.extend(
                self._book.clear_where(
                    lambda p: p.kind == "return_to_solving", "followed", self._now_ms
                )
            )
            if ack is None:
                out.extend(self._process_first(ev, text, process))
        out.extend(self._script_nudge(ev, text))
        self._agent_replied = True
        return out

    # -- policy ----------------------------------------------------------------------------

    def _distressed(self) -> bool:
        return self._empathy.current() is not None or self._distress.elevated

    def _distress_evidence(self) -> dict[str, object]:
        return {
            "score": self._distress.score,
            "level": self._distress.level,
            "features": dict(self._distress.features),
            "utterance": self._customer_text,
            "utterance_id": self._customer_utterance_id,
        }

    def _pause_and_acknowledge(self, rec: EpisodeRecord) -> list[Event]:
        group = self.phrases.group_for(rec.cause)
        text = group.instruction or self.phrases.prompt("pause_and_acknowledge").text
        evidence = {
            "episode_id": rec.episode_id,
            "peak": rec.peak,
            "cause": list(rec.cause),
            "cause_group": group.name,
            **self._distress_evidence(),
        }
        events, entry = self._book.raise_prompt(
            kind="pause_and_acknowledge",
            severity="urgent",
            text=text,
            suggested_phrase=group.phrase(self._uses.get(group.name, 0)),
            evidence=evidence,
            t_ms=self._now_ms,
            episode_id=rec.episode_id,
            replace_same_kind=True,
        )
        if entry is not None:
            self._uses[group.name] = self._uses.get(group.name, 0) + 1
            rec.prompt_ids.append(entry.prompt_id)
        else:
            # Rate-limited: the open pause prompt (if any) now stands for this episode too.
            for open_prompt in self._book.open_prompts("pause_and_acknowledge"):
                open_prompt.episode_ids.add(rec.episode_id)
            self._log.debug("pause prompt for episode %s rate-limited", rec.episode_id)
        return list(events)

    def _check_overtalk(self) -> list[Event]:
        turns = self._turns
        run_ms = turns.overtalk_run_ms
        if run_ms < self.options.overtalk_min_ms:
            return []
        if turns.overtalk_run_id == self._overtalk_seen_run:
            return []
        if not self._distressed():
            return []
        self._overtalk_seen_run = turns.overtalk_run_id
        rec = self._empathy.current()
        prompt = self.phrases.prompt("be_present_overtalk")
        evidence = {
            "trigger": "overtalk",
            "overtalk_ms": run_ms,
            "interrupted_by": turns.overtalk_started_by,
            "episode_id": rec.episode_id if rec else None,
            **self._distress_evidence(),
        }
        events, _ = self._book.raise_prompt(
            kind="be_present",
            severity="warn",
            text=prompt.text,
            suggested_phrase=prompt.phrase,
            evidence=evidence,
            t_ms=self._now_ms,
            episode_id=rec.episode_id if rec else None,
            trigger="overtalk",
        )
        return list(events)

    def _process_first(self, ev: TranscriptEvent, text: str, process: str) -> list[Event]:
        end_ms = max(int(ev.end_ms), int(ev.start_ms), self._now_ms)
        pending = [
            rec
            for rec in self._empathy.open_episodes()
            if not rec.acknowledged and not rec.process_nudged and rec.start_ms <= end_ms
        ]
        if not pending:
            return []
        rec = pending[-1]
        for r in pending:
            r.process_nudged = True
        prompt = self.phrases.prompt("be_present_process_first")
        evidence = {
            "trigger": "process_first",
            "agent_utterance": text,
            "agent_utterance_id": ev.utterance_id,
            "process_phrase": process,
            "episode_id": rec.episode_id,
            "ms_since_episode_start": max(0, self._now_ms - rec.start_ms),
            **self._distress_evidence(),
        }
        events, entry = self._book.raise_prompt(
            kind="be_present",
            severity="warn",
            text=prompt.text,
            suggested_phrase=prompt.phrase,
            evidence=evidence,
            t_ms=self._now_ms,
            episode_id=rec.episode_id,
            trigger="process_first",
        )
        if entry is not None:
            entry.episode_ids.update(r.episode_id for r in pending)
        return list(events)

    def _acknowledged(
        self,
        *,
        at_ms: int,
        said_by_ms: int,
        source: str,
        phrase: str,
        episode_ids: set[str] | None,
    ) -> list[Event]:
        newly = self._empathy.acknowledge(
            at_ms=at_ms,
            said_by_ms=said_by_ms,
            source=source,
            phrase=phrase,
            episode_ids=episode_ids,
        )
        if not newly:
            return []
        ids = {rec.episode_id for rec in newly}

        def answered(p: OpenPrompt) -> bool:
            relevant = p.kind == "pause_and_acknowledge" or (
                p.kind == "be_present" and p.trigger == "process_first"
            )
            return relevant and not p.episode_ids.isdisjoint(ids)

        out: list[Event] = list(self._book.clear_where(answered, "followed", self._now_ms))
        out.extend(self._empathy_if_changed())
        for rec in newly:
            if not rec.is_open:
                out.extend(self._return_to_solving(rec, reason="episode_ended"))
        return out

    def _return_to_solving(self, rec: EpisodeRecord, *, reason: str) -> list[Event]:
        if rec.returned or not rec.acknowledged:
            return []
        rec.returned = True
        if any(r.is_open and r is not rec for r in self._empathy.episodes()):
            return []  # another episode is still going on: not the time to move on
        out: list[Event] = list(
            self._book.clear_where(
                lambda p: p.kind == "be_present" and rec.episode_id in p.episode_ids,
                "superseded",
                self._now_ms,
            )
        )
        prompt = self.phrases.prompt("return_to_solving")
        evidence = {
            "episode_id": rec.episode_id,
            "calm": reason,
            "ack_latency_ms": rec.ack_latency_ms,
            "ack_phrase": rec.ack_phrase,
            **self._distress_evidence(),
        }
        events, _ = self._book.raise_prompt(
            kind="return_to_solving",
            severity="info",
            text=prompt.text,
            suggested_phrase=prompt.phrase,
            evidence=evidence,
            t_ms=self._now_ms,
            episode_id=rec.episode_id,
        )
        out.extend(events)
        return out

    def _script_nudge(self, ev: TranscriptEvent, text: str) -> list[Event]:
        gap_ms = None if self._customer_end_ms is None else int(ev.start_ms) - self._customer_end_ms
        after_complaint = (
            self._customer_complained
            and not self._agent_replied
            and gap_ms is not None
            and -2000 <= gap_ms <= self.options.stock_reply_window_ms
        )
        found = self._scripts.on_agent_final(
            text, t_ms=self._now_ms, after_complaint=after_complaint, distressed=self._distressed()
        )
        if not found or not self._book.gap_ok("script", self._now_ms):
            return []
        line = min(found, key=lambda s: SCRIPT_ORDER.index(s.kind))
        advice = self.phrases.script(line.kind)
        n = self._uses.get(f"script:{line.kind}", 0)
        evidence: dict[str, object] = {
            "script": line.kind,
            "phrase": line.phrase,
            "agent_utterance": text,
            "agent_utterance_id": ev.utterance_id,
        }
        if line.kind == "stock_reply":
            evidence["customer_utterance"] = self._customer_text
            evidence["distressed"] = self._distressed()
        events, entry = self._book.raise_prompt(
            kind="script",
            severity="info",
            text=advice.text,
            suggested_phrase=advice.better[n % len(advice.better)],
            evidence=evidence,
            t_ms=self._now_ms,
        )
        if entry is not None:
            self._uses[f"script:{line.kind}"] = n + 1
        return list(events)

    # -- outputs ---------------------------------------------------------------------------

    def _empathy_if_changed(self) -> list[Event]:
        summary = self._empathy.summary()
        if summary == self._last_empathy:
            return []
        self._last_empathy = summary
        return [self._empathy.score(call_id=self.call_id, t_ms=self._now_ms)]

    def _alert(self, kind: str, severity: Severity, message: str) -> list[Event]:
        last = self._last_alert_ms.get(kind)
        if last is not None and self._now_ms - last < self.options.min_prompt_gap_ms:
            return []
        self._last_alert_ms[kind] = self._now_ms
        alert = Alert(
            call_id=self.call_id,
            t_ms=self._now_ms,
            alert_id=f"{self.call_id}-a{self._n_alerts}",
            kind=kind,
            severity=severity,
            message=message,
        )
        self._n_alerts += 1
        return [alert]


def _finite(value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return 0.0
    return v if v == v and abs(v) != float("inf") else 0.0


def _some(event: Event | None) -> list[Event]:
    return [] if event is None else [event]


def _time_of(ev: TranscriptEvent, ack: Acknowledgement) -> int:
    """Media time at which the acknowledgement was said: its first word's start if known."""
    start = int(ev.start_ms)
    if not ev.words:
        return start
    norm = normalize(ev.text)
    cursor = 0
    for word in ev.words:
        w = normalize(word.text).strip()
        if not w:
            continue
        pos = norm.find(w, cursor)
        if pos < 0:
            continue
        cursor = pos + len(w)
        if cursor > ack.start:
            return max(start, int(word.start_ms))
    return start
