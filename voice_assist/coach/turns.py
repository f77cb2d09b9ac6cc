"""Turn-taking facts from VoiceActivity events and transcripts.

Who is speaking, overtalk (both legs at once), silence (neither), the agent's share of
the talking and speaking rate.  :class:`TurnTracker` integrates a piecewise-constant
"who is speaking" state over the media clock; it produces the turn-taking half of
:class:`~voice_assist.events.CallMetrics`:

``agent_talk_ratio``
    agent talk time / (agent + customer talk time) so far (overlap counts for both).
``agent_words_per_min``
    words in the agent's final utterances of the last ``speaking_rate_window_ms``, divided
    by those utterances' duration.
``overtalk_ms``
    total overtalk so far in the call.
``silence_ms``
    the current silence: how long neither leg has been speaking (0 while someone speaks).

VoiceActivity is the primary source.  For a leg that has sent no VoiceActivity yet, its
transcripts stand in: a partial means "speaking", a final means "stopped".  Times that go
backwards are treated as "now" (the clock never runs back).
"""

from __future__ import annotations

from collections import deque

from voice_assist.coach.distress_track import DistressTrack
from voice_assist.events import CHANNELS, CallMetrics, Channel, TranscriptEvent


class TurnTracker:
    """Speaking state of both legs and the turn-taking totals of one call.

    Parameters
    ----------
    speaking_rate_window_ms
        Agent words per minute are measured over the final utterances of this window.
    """

    def __init__(self, *, speaking_rate_window_ms: int = 60000) -> None:
        self._rate_window_ms = speaking_rate_window_ms
        self.now_ms = 0
        self._speaking: dict[Channel, bool] = dict.fromkeys(CHANNELS, False)
        self._talk_ms: dict[Channel, int] = dict.fromkeys(CHANNELS, 0)
        self._vad_seen: set[Channel] = set()
        self.overtalk_total_ms = 0
        self.silence_total_ms = 0
        self._overtalk_since = 0
        self.overtalk_run_id = 0
        """Counts overtalk runs; a new id each time both legs start speaking at once."""
        self.overtalk_started_by: Channel | None = None
        """The leg that started speaking second in the current/last overtalk run."""
        self._silence_since = 0
        # (end_ms, words, duration_ms) of recent agent finals; bounded whatever the clock does
        self._agent_finals: deque[tuple[int, int, int]] = deque(maxlen=256)

    # -- feeding ---------------------------------------------------------------------------

    def advance(self, t_ms: int) -> int:
        """Move the clock to ``t_ms`` (never backwards); returns the clock."""
        dt = int(t_ms) - self.now_ms
        if dt <= 0:
            return self.now_ms
        for ch in CHANNELS:
            if self._speaking[ch]:
                self._talk_ms[ch] += dt
        n = sum(self._speaking.values())
        if n == 2:
            self.overtalk_total_ms += dt
        elif n == 0:
            self.silence_total_ms += dt
        self.now_ms += dt
        return self.now_ms

    def on_voice_activity(self, channel: Channel, speaking: bool, t_ms: int) -> None:
        self._vad_seen.add(channel)
        self._set(channel, speaking, t_ms)

    def on_transcript(self, ev: TranscriptEvent) -> None:
        """Count an agent final for the speaking rate; stand in for VAD on a leg without it."""
        t = self.advance(ev.t_ms)
        duration_ms = max(0, int(ev.end_ms) - int(ev.start_ms))
        if ev.is_final and ev.channel == "agent":
            n_words = len(ev.words) if ev.words else len(ev.text.split())
            if n_words and duration_ms:
                self._agent_finals.append((max(int(ev.end_ms), 0), n_words, duration_ms))
        if ev.channel in self._vad_seen:
            return
        if not ev.is_final:
            if ev.text.strip():
                self._set(ev.channel, True, t)
        elif self._speaking[ev.channel]:
            self._set(ev.channel, False, t)
        else:  # a final with no partial before it: count its duration as talk time
            self._talk_ms[ev.channel] += duration_ms

    def _set(self, channel: Channel, speaking: bool, t_ms: int) -> None:
        t = self.advance(t_ms)
        if self._speaking[channel] == speaking:
            return
        self._speaking[channel] = speaking
        if speaking and all(self._speaking.values()):
            self._overtalk_since = t
            self.overtalk_run_id += 1
            self.overtalk_started_by = channel
        if not any(self._speaking.values()):
            self._silence_since = t

    # -- reading ---------------------------------------------------------------------------

    def speaking(self, channel: Channel) -> bool:
        return self._speaking[channel]

    def talk_ms(self, channel: Channel) -> int:
        return self._talk_ms[channel]

    @property
    def overtalk_run_ms(self) -> int:
        """Length of the overtalk going on now (0 when not both are speaking)."""
        return self.now_ms - self._overtalk_since if all(self._speaking.values()) else 0

    @property
    def silence_run_ms(self) -> int:
        """Length of the silence going on now (0 while anyone speaks)."""
        return self.now_ms - self._silence_since if not any(self._speaking.values()) else 0

    @property
    def agent_talk_ratio(self) -> float:
        total = self._talk_ms["agent"] + self._talk_ms["customer"]
        return self._talk_ms["agent"] / total if total > 0 else 0.0

    def agent_words_per_min(self) -> float:
        finals = self._agent_finals
        while finals and finals[0][0] < self.now_ms - self._rate_window_ms:
            finals.popleft()
        words = sum(f[1] for f in finals)
        duration_ms = sum(f[2] for f in finals)
        return words * 60000.0 / duration_ms if duration_ms > 0 else 0.0

    def metrics(self, *, call_id: str, distress: DistressTrack) -> CallMetrics:
        """CallMetrics at the current clock, with the customer's distress."""
        return CallMetrics(
            call_id=call_id,
            t_ms=self.now_ms,
            distress=distress.score,
            distress_slope_per_s=distress.slope_per_s(),
            level=distress.level,
            agent_talk_ratio=self.agent_talk_ratio,
            agent_words_per_min=self.agent_words_per_min(),
            overtalk_ms=self.overtalk_total_ms,
            silence_ms=self.silence_run_ms,
        )
