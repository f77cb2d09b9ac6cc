"""Streaming transcription of one call leg: a synchronous, I/O-free core.

The core decides *when* to decode and turns decode results into events; it never
calls the model itself.  The runtime runs the :class:`DecodeRequest` objects it gets
back (in a worker pool) and hands each :class:`~voice_assist.asr.decoder.Hypothesis`
to :meth:`LegTranscriber.on_result`::

    leg = LegTranscriber(call_id="c1", channel="customer", options=settings.asr)
    out = leg.feed(samples)          # out.events, out.requests
    events = leg.on_result(request, hypothesis)
    out = leg.finish()

Policy (docs/design.md, "Latency budget"; the reasoning in docs/streaming.md):

* Silero VAD gates speech; nothing outside speech is ever decoded.
* While someone speaks, a partial decode of the utterance so far is requested every
  ``partial_interval_ms`` of audio (``agent_partial_interval_ms`` on the agent leg), if
  anyone watches the leg; the stable prefix is what two consecutive hypotheses agree
  on (LocalAgreement) and never shrinks.
* After ``end_silence_ms`` of silence the whole utterance is decoded once more, with
  word timestamps: the final.  Finals are released in utterance order.  A final's audio
  starts ``final_lead_in_ms`` before the utterance (never before the previous one's
  end): the VAD scores speech onsets low (a first "Alright," after a pause, a cold
  voice's "I have a cold" scored 0.1-0.5), and Whisper, not the VAD, should decide
  whether that audio holds words.
* An utterance reaching ``max_utterance_ms`` is cut at its quietest moment in the last
  few seconds (a pause between words), so no word is split and none lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from voice_assist.asr.context import ConversationContext
from voice_assist.asr.decoder import Hypothesis
from voice_assist.asr.vad import CHUNK_MS, CHUNK_SAMPLES, SileroStream, SpeechGate
from voice_assist.config import AsrOptions
from voice_assist.events import Channel, Event, TranscriptEvent, VoiceActivity, Word

SAMPLE_RATE_HZ = 16000
_PREROLL_SAMPLES = SAMPLE_RATE_HZ  # audio kept before speech starts (pad), plus the lead-in
_CUT_SEARCH_MS = (4000, 300)  # look for a cut between 4 s and 0.3 s before the limit


def samples_to_ms(n: int) -> int:
    return int(n * 1000 // SAMPLE_RATE_HZ)


@dataclass(frozen=True, slots=True, eq=False)
class DecodeRequest:
    """One decode the core wants run: ``audio`` is ``[start_sample, end_sample)`` of the leg.

    Requests compare by identity (the core tracks them with ``is``); comparing their
    audio arrays by value would be meaningless and raises.
    """

    call_id: str
    channel: Channel
    utterance_id: str
    utterance_index: int
    kind: Literal["partial", "final"]
    audio: np.ndarray = field(repr=False)
    start_sample: int
    end_sample: int
    speculative: bool = False
    """An early final, started before the end of the utterance is confirmed."""
    prompt: str = field(default="", repr=False)
    """Finals: the call's last words, both legs (see :mod:`voice_assist.asr.context`)."""
    narrow: bool = False
    """Finals: decode with the partials' window and beam; the pool sets it when work is
    waiting."""

    @property
    def duration_s(self) -> float:
        return (self.end_sample - self.start_sample) / SAMPLE_RATE_HZ


@dataclass(slots=True)
class FeedResult:
    events: list[Event] = field(default_factory=list)
    requests: list[DecodeRequest] = field(default_factory=list)
    withdrawn: list[DecodeRequest] = field(default_factory=list)
    """Earlier requests no longer wanted (an early final whose speech resumed)."""


@dataclass(slots=True)
class _Utterance:
    index: int
    start_sample: int
    lead_start: int
    """Where the utterance's final decodes from (``final_lead_in_ms`` before the start)."""
    last_partial_sample: int
    last_words: list[str] = field(default_factory=list)
    stable_words: list[str] = field(default_factory=list)
    early: DecodeRequest | None = None
    early_result: tuple[Hypothesis | None] | None = None


_WORD_NORM = re.compile(r"[^\w']+")


def _norm(word: str) -> str:
    return _WORD_NORM.sub("", word.lower())


def agreed_prefix(a: list[str], b: list[str]) -> int:
    """Number of leading words two hypotheses agree on (case and punctuation ignored)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if _norm(x) != _norm(y):
            break
        n += 1
    return n


class LegTranscriber:
    """VAD-gated streaming transcription policy for one leg (see module docstring)."""

    def __init__(
        self,
        *,
        call_id: str,
        channel: Channel,
        options: AsrOptions,
        vad: SileroStream | None = None,
        context: ConversationContext | None = None,
        watched: Callable[[], bool] | None = None,
    ) -> None:
        """``context`` is shared by the legs of one call; by default the leg has its own.

        ``watched()`` says whether anyone shows this leg's partials now; unless
        ``options.partials_unwatched``, no partial is requested while it is False.
        """
        self.call_id = call_id
        self.channel = channel
        self.options = options
        self._vad = vad or SileroStream(
            reset_after_quiet_chunks=options.vad_reset_quiet_ms // CHUNK_MS,
            quiet_below=options.vad_neg_threshold,
        )
        self._gate = SpeechGate(
            threshold=options.vad_threshold,
            neg_threshold=options.vad_neg_threshold,
            min_speech_ms=options.min_speech_ms,
            end_silence_ms=options.end_silence_ms,
            speech_pad_ms=options.speech_pad_ms,
        )
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # leg sample index of self._buf[0]
        self._received = 0
        self._probs: list[float] = []  # VAD probability per chunk since self._probs_start
        self._probs_start = 0  # chunk index of self._probs[0]
        self._utt: _Utterance | None = None
        self._next_index = 0
        self._pending_finals: dict[int, DecodeRequest] = {}
        self._done_finals: dict[int, tuple[DecodeRequest, Hypothesis | None]] = {}
        self._next_release = 0
        interval_ms = (
            options.agent_partial_interval_ms if channel == "agent" else options.partial_interval_ms
        )
        self._partial_every = int(interval_ms * SAMPLE_RATE_HZ / 1000)
        self._watched = (lambda: True) if watched is None or options.partials_unwatched else watched
        self._min_partial = int(options.min_partial_audio_ms * SAMPLE_RATE_HZ / 1000)
        self._max_utt = int(options.max_utterance_ms * SAMPLE_RATE_HZ / 1000)
        self._early_final_ms = options.early_final_ms
        self._lead_in = int(options.final_lead_in_ms * SAMPLE_RATE_HZ / 1000)
        self._last_end = 0  # end of the previous utterance: no lead-in reaches before it
        self._context = context or ConversationContext(options.context_max_words)

    # ------------------------------------------------------------------ input
    @property
    def received_samples(self) -> int:
        return self._received

    @property
    def speaking(self) -> bool:
        return self._utt is not None

    @property
    def pending_finals(self) -> int:
        return len(self._pending_finals)

    def feed(self, samples: np.ndarray) -> FeedResult:
        """Add 16 kHz float32 audio; returns events and decode requests now due."""
        out = FeedResult()
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if samples.size == 0:
            return out
        self._buf = np.concatenate([self._buf, samples])
        self._received += samples.size
        probs = self._vad.feed(samples)
        chunk0 = self._gate.position // CHUNK_SAMPLES
        for k, p in enumerate(probs):
            self._probs.append(float(p))
            self._process_chunk(chunk0 + k, float(p), out)
        self._trim()
        return out

    def _process_chunk(self, chunk_index: int, prob: float, out: FeedResult) -> None:
        for change in self._gate.feed(np.array([prob], dtype=np.float32)):
            if change.kind == "start":
                self._start_utterance(change.sample, out)
            else:
                self._end_utterance(change.sample, out)
        position = (chunk_index + 1) * CHUNK_SAMPLES
        utt = self._utt
        if utt is None:
            return
        self._maybe_early_final(utt, out)
        if position - utt.lead_start >= self._max_utt:  # the final's audio, lead-in included
            cut = self._quiet_cut(utt.start_sample, position)
            self._request_final(utt, cut, out)
            self._last_end = cut
            self._utt = self._new_utterance(cut, cut)
            return
        if (
            position - utt.last_partial_sample >= self._partial_every
            and position - utt.start_sample >= self._min_partial
            and self._gate.last_speech_end > utt.last_partial_sample  # new speech to show
            and utt.early is None  # the final is already being decoded
            and self._watched()
        ):
            utt.last_partial_sample = position
            out.requests.append(self._request(utt, "partial", utt.start_sample, position))

    def _maybe_early_final(self, utt: _Utterance, out: FeedResult) -> None:
        """Start the final decode as soon as the utterance's audio is complete.

        Once the trailing silence covers the end pad, the final's audio is fixed if the
        silence goes on; decoding it then, instead of after ``end_silence_ms``, takes
        that wait off the final's latency.  If speech resumes, the early result is
        thrown away and the utterance goes on.
        """
        if utt.early is not None and self._gate.silence_ms == 0:
            out.withdrawn.append(utt.early)  # speech resumed: stale
            utt.early, utt.early_result = None, None
        if utt.early is not None or not self._early_final_ms:
            return
        if self._gate.silence_ms < self._early_final_ms:
            return
        end = self._gate.tentative_end()
        if end is None or end - utt.start_sample < CHUNK_SAMPLES:
            return
        utt.early = replace(self._request(utt, "final", utt.lead_start, end), speculative=True)
        out.requests.append(utt.early)

    def _new_utterance(self, start_sample: int, lead_start: int) -> _Utterance:
        utt = _Utterance(self._next_index, start_sample, lead_start, start_sample)
        self._next_index += 1
        return utt

    def _activity(self, sample: int, *, speaking: bool) -> VoiceActivity:
        return VoiceActivity(
            call_id=self.call_id,
            t_ms=samples_to_ms(sample),
            channel=self.channel,
            speaking=speaking,
        )

    def _start_utterance(self, sample: int, out: FeedResult) -> None:
        start = max(sample, self._buf_start)
        lead = max(self._buf_start, self._last_end, start - self._lead_in)
        self._utt = self._new_utterance(start, min(lead, start))
        out.events.append(self._activity(sample, speaking=True))

    def _end_utterance(self, sample: int, out: FeedResult) -> None:
        utt = self._utt
        self._utt = None
        self._last_end = sample
        if utt is not None and utt.early is not None and utt.early.end_sample == sample:
            self._pending_finals[utt.index] = utt.early
            if utt.early_result is not None:
                out.events.extend(self.on_result(utt.early, utt.early_result[0]))
        elif utt is not None and sample > utt.start_sample:
            self._request_final(utt, sample, out)
        out.events.append(self._activity(sample, speaking=False))

    def _quiet_cut(self, start: int, limit: int) -> int:
        """The start of the least speech-like chunk in the search span before ``limit``."""
        lo_ms, hi_ms = _CUT_SEARCH_MS
        lo = max(start + CHUNK_SAMPLES, limit - lo_ms * SAMPLE_RATE_HZ // 1000)
        hi = limit - hi_ms * SAMPLE_RATE_HZ // 1000
        first = lo // CHUNK_SAMPLES - self._probs_start
        last = hi // CHUNK_SAMPLES - self._probs_start
        window = self._probs[max(first, 0) : max(last, first + 1)]
        if not window:
            return limit
        best = int(np.argmin(window)) + max(first, 0)
        return (best + self._probs_start) * CHUNK_SAMPLES + CHUNK_SAMPLES // 2

    def _request(
        self, utt: _Utterance, kind: Literal["partial", "final"], start: int, end: int
    ) -> DecodeRequest:
        a = start - self._buf_start
        b = end - self._buf_start
        return DecodeRequest(
            call_id=self.call_id,
            channel=self.channel,
            utterance_id=f"{self.channel[0]}{utt.index}",
            utterance_index=utt.index,
            kind=kind,
            audio=self._buf[max(a, 0) : max(b, 0)].copy(),
            start_sample=start,
            end_sample=end,
            prompt=self._context.prompt() if kind == "final" else "",
        )

    def _request_final(self, utt: _Utterance, end: int, out: FeedResult) -> None:
        req = self._request(utt, "final", utt.lead_start, end)
        self._pending_finals[utt.index] = req
        out.requests.append(req)

    def _trim(self) -> None:
        keep_from = self._received - _PREROLL_SAMPLES - self._lead_in
        if self._utt is not None:
            keep_from = min(keep_from, self._utt.lead_start)
        drop = keep_from - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start = keep_from
            chunk_drop = keep_from // CHUNK_SAMPLES - self._probs_start
            if chunk_drop > 0:
                del self._probs[:chunk_drop]
                self._probs_start += chunk_drop

    def finish(self) -> FeedResult:
        """End of the leg: the utterance in progress becomes a final request."""
        out = FeedResult()
        if self._utt is not None:
            utt = self._utt
            self._utt = None
            end = self._received
            if end - utt.start_sample >= CHUNK_SAMPLES:
                self._request_final(utt, end, out)
            out.events.append(self._activity(end, speaking=False))
        return out

    # ---------------------------------------------------------------- results
    def on_result(self, request: DecodeRequest, hypothesis: Hypothesis | None) -> list[Event]:
        """Turn a finished decode into events.  ``hypothesis=None`` means the decode failed."""
        if request.kind == "partial":
            return self._on_partial(request, hypothesis)
        if request.speculative and self._pending_finals.get(request.utterance_index) is not request:
            utt = self._utt
            if utt is not None and utt.early is request:
                utt.early_result = (hypothesis,)  # kept until the silence confirms the end
            return []
        self._pending_finals.pop(request.utterance_index, None)
        self._done_finals[request.utterance_index] = (request, hypothesis)
        events: list[Event] = []
        while self._next_release in self._done_finals:
            req, hyp = self._done_finals.pop(self._next_release)
            self._next_release += 1
            if hyp is not None and hyp.text:
                events.append(self._final_event(req, hyp))
                self._context.add(hyp.text)
        return events

    def _on_partial(self, request: DecodeRequest, hyp: Hypothesis | None) -> list[Event]:
        utt = self._utt
        if hyp is None or not hyp.text or utt is None or utt.index != request.utterance_index:
            return []  # the utterance has moved on to its final: this partial is stale
        words = hyp.text.split()
        agreed = agreed_prefix(utt.last_words, words)
        if agreed > len(utt.stable_words):
            utt.stable_words = words[:agreed]
        utt.last_words = words
        return [
            TranscriptEvent(
                call_id=self.call_id,
                t_ms=samples_to_ms(request.end_sample),
                channel=self.channel,
                utterance_id=request.utterance_id,
                is_final=False,
                text=hyp.text,
                stable_text=" ".join(utt.stable_words),
                start_ms=samples_to_ms(request.start_sample),
                end_ms=samples_to_ms(request.end_sample),
            )
        ]

    def _final_event(self, req: DecodeRequest, hyp: Hypothesis) -> TranscriptEvent:
        base = samples_to_ms(req.start_sample)
        end_ms = samples_to_ms(req.end_sample)
        words = tuple(
            Word(
                text=w.text,
                start_ms=min(base + int(w.start_s * 1000), end_ms),
                end_ms=min(base + int(w.end_s * 1000), end_ms),
                probability=round(w.probability, 3),
            )
            for w in hyp.words
        )
        return TranscriptEvent(
            call_id=self.call_id,
            t_ms=end_ms,
            channel=self.channel,
            utterance_id=req.utterance_id,
            is_final=True,
            text=hyp.text,
            stable_text=hyp.text,
            start_ms=words[0].start_ms if words else base,  # the lead-in is not speech
            end_ms=end_ms,
            words=words,
        )
