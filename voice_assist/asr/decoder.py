"""One Whisper decode of one utterance: the code that runs inside a worker thread.

Whisper's encoder cost grows with the window it is given, and CTranslate2 accepts
windows shorter than the 30 s the model was trained on.  The window is the utterance
rounded up to ``window_step_ms``, with a floor: ``partial_min_window_ms`` (5 s) for
partials, which their finals replace within seconds, ``final_min_window_ms`` for finals
and ``min_window_ms`` (10 s) for a final decoded while other work waits.
Shorter windows cost some accuracy against Whisper's 30 s training window (what
``transcribe()`` uses), and a 30 s window costs about twice the encoder time, which
a CPU cannot spare within the live budget; so finals default to 10 s on CPU and to
30 s on a GPU (docs/streaming.md has the measurements).  Decoding uses
timestamp tokens, which end the text where the speech ends, and one decode is one
window (see :meth:`Decoder._generate`), unless the model stops short of a final's
audio and asks for a next window (:meth:`Decoder._continue`).  Segments that cannot
be speech in the audio are dropped (:func:`phantoms`).

Partials decode with ``beam_size``; finals, one per utterance, with ``final_beam_size``
and, when ``context_max_words`` is set, the conversation so far as Whisper's
previous-text prompt (see :mod:`voice_assist.asr.context`).  A prompted final that
looks misled by its prompt is decoded once more without it.  A ``narrow`` final (the
pool asks for one while other work waits) takes the partials' window and beam.

Everything here, word alignment included, runs inside the worker thread.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_assist.asr.context import suspect_prompted
from voice_assist.asr.whisper_api import WhisperApi
from voice_assist.config import AsrOptions
from voice_assist.errors import ConfigError

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

SAMPLE_RATE_HZ = 16000
_FRAMES_PER_S = 100
_MAX_WINDOW_FRAMES = 3000


@dataclass(frozen=True, slots=True)
class DecodedWord:
    text: str
    start_s: float
    end_s: float
    probability: float


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """What one decode produced; times are relative to the decoded audio's start."""

    text: str
    words: tuple[DecodedWord, ...]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    window_s: float
    rejected: str | None = None
    """Why the text was thrown away (``no_speech``, ``quiet``, ``loop``), if it was."""
    prompted: bool = False
    """Decoded with the conversation prompt (False also when the prompt was dropped)."""
    stopped_s: float | None = None
    """Where the model stopped when it left audio for a next window (see
    :meth:`Decoder._continue`); None when the decode covered the audio."""


def window_frames(
    n_samples: int, options: AsrOptions, *, final: bool = False, partial: bool = False
) -> int:
    """Encoder window (mel frames) for ``n_samples`` of audio: a final's if ``final``, a
    partial's if ``partial``, else a final's decoded while work waits (narrow)."""
    needed_ms = n_samples * 1000 / SAMPLE_RATE_HZ + 200
    step = max(1, options.window_step_ms)
    floor_ms = options.final_min_window_ms if final else options.min_window_ms
    if partial:
        floor_ms = options.partial_min_window_ms
    window_ms = max(floor_ms, math.ceil(needed_ms / step) * step)
    return min(_MAX_WINDOW_FRAMES, int(window_ms * _FRAMES_PER_S / 1000))


def rms_dbfs(samples: np.ndarray) -> float:
    if samples.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20 * math.log10(rms) if rms > 0 else -math.inf


_WORD_RE = re.compile(r"[\w']+")
_LOOP_RE = re.compile(r"\b(\w+(?:\W+\w+){0,5}?)(?:\W+\1\b){3,}", re.IGNORECASE)


CONTINUE_MIN_S = 1.0
"""A final decode that stopped at least this far before its audio's end goes on."""
MAX_CONTINUATIONS = 2
MAX_TOKENS_BASE = 12
MAX_TOKENS_PER_S = 10
"""A decode generates at most ``MAX_TOKENS_BASE + MAX_TOKENS_PER_S`` x seconds of audio
tokens.  Fast speech is under 5 words (7 tokens, timestamps included) a second; a
decode that runs on past that is looping ("we can, we can, ...", a sentence cycled
into the padded window), and without the cap it runs to Whisper's 448 tokens: 2.1 s of
decoding for an 8 s utterance instead of 0.4 s.  A decode that reaches the cap is
rejected as a loop, as the compression-ratio rule rejected it at 448 tokens."""

LOOP_MIN_WORDS = 8
"""A repeated run shorter than this is speech ("no, no, no, no"; "words, words, words,
words" in a real recording was thrown away by the old rule), not a decoding loop."""


def has_repetition_loop(text: str) -> bool:
    """True for the classic Whisper failure: one phrase repeated four or more times in a
    row, over at least ``LOOP_MIN_WORDS`` words."""
    return any(len(m.group(0).split()) >= LOOP_MIN_WORDS for m in _LOOP_RE.finditer(text))


ECHO_MIN_WORDS = 3
ECHO_OVERSHOOT_S = 0.5
"""A repeat must run this far past the audio's end to be a phantom (the observed one ran
2.1 s past; a final cut mid-speech may end a real sentence a few frames past)."""


def phantoms(texts: list[str], spans_s: list[tuple[float, float]], duration_s: float) -> list[bool]:
    """Per decoded segment: True where it cannot be speech in the audio.

    That is a segment that starts after the audio ends, or one that repeats the
    segment before it word for word and runs well past the audio's end: Whisper sometimes
    fills the rest of a window with the sentence it has just written (a 7.9 s read
    sentence came out twice, at 0-7 s and at 7-10 s).  A caller who does say the same
    sentence twice says it inside the audio, and keeps both.
    """
    words = [_WORD_RE.findall(t.lower()) for t in texts]
    out = []
    for i, (w, (start, end)) in enumerate(zip(words, spans_s, strict=True)):
        echo = i > 0 and len(w) >= ECHO_MIN_WORDS and w == words[i - 1]
        out.append(start >= duration_s or (echo and end > duration_s + ECHO_OVERSHOOT_S))
    return out


class Decoder:
    """Decodes utterances with a shared :class:`WhisperModel`; safe to call from threads."""

    def __init__(self, model: WhisperModel, options: AsrOptions) -> None:
        import ctranslate2

        temperatures = options.final_temperatures
        if not temperatures or any(not 0.0 <= t <= 1.0 for t in temperatures):
            raise ConfigError(
                f"asr.final_temperatures must be 1 or more values in [0, 1], not {temperatures}"
            )
        ctranslate2.set_random_seed(options.decode_seed)
        self._model = model
        self.options = options
        self._api = WhisperApi(model, None if options.language == "auto" else options.language)
        common = dict(
            log_prob_threshold=options.log_prob_threshold,
            no_speech_threshold=options.no_speech_threshold,
            compression_ratio_threshold=options.compression_ratio_threshold,
        )
        # partials are replaced a second later: never worth a temperature fallback
        self._opts_partial = self._api.options(
            beam_size=options.beam_size,
            temperatures=[0.0],
            word_timestamps=False,
            max_initial_timestamp=1.0,
            **common,
        )
        self._opts_final = self._api.options(
            beam_size=options.final_beam_size,
            temperatures=list(temperatures),
            word_timestamps=True,
            max_initial_timestamp=1.0 + options.final_lead_in_ms / 1000,
            **common,
        )
        self._opts_final_narrow = replace(self._opts_final, beam_size=options.beam_size)
        self._local = threading.local()

    def _tokenizer(self) -> Any:
        tok = getattr(self._local, "tokenizer", None)
        if tok is None:  # the tokenizer keeps per-call state (detected language): one per thread
            tok = self._api.new_tokenizer()
            self._local.tokenizer = tok
        return tok

    def decode(
        self, audio: np.ndarray, *, words: bool, prompt: str = "", narrow: bool = False
    ) -> Hypothesis:
        """Transcribe one utterance (at most 30 s of 16 kHz float32 audio).

        ``words`` marks a final: word times, the final window and beam (the partials'
        window and beam if ``narrow``) and ``prompt`` (the conversation so far) are used;
        partials ignore ``prompt``.
        """
        return self.final(audio, prompt=prompt, narrow=narrow) if words else self.partial(audio)

    def partial(self, audio: np.ndarray) -> Hypothesis:
        """A partial: the partials' window and beam, no word times, no prompt."""
        return self._decode_once(audio, False, "", False)

    def final(self, audio: np.ndarray, *, prompt: str = "", narrow: bool = False) -> Hypothesis:
        """A final: word times, the conversation as ``prompt``, decoded on past a stop."""
        return self._continue(audio, self._decode_once(audio, True, prompt, narrow), narrow)

    def _decode_once(self, audio: np.ndarray, words: bool, prompt: str, narrow: bool) -> Hypothesis:
        """One encoder window (see :meth:`decode`)."""
        audio = np.ascontiguousarray(audio[: _MAX_WINDOW_FRAMES * 160], dtype=np.float32)
        frames = window_frames(
            audio.size, self.options, final=words and not narrow, partial=not words
        )
        window_s = frames / _FRAMES_PER_S
        if rms_dbfs(audio) < self.options.min_rms_dbfs:
            return Hypothesis("", (), 0.0, 1.0, 0.0, window_s, rejected="quiet")
        features = self._api.features(audio)
        padded = np.zeros((features.shape[0], frames), dtype=np.float32)
        n = min(frames, features.shape[1])
        padded[:, :n] = features[:, :n]
        encoder_output = self._api.encode(padded)
        content_frames = min(frames, features.shape[1])
        if not words:
            return self._generate(encoder_output, content_frames, self._opts_partial, "", window_s)
        final = self._opts_final_narrow if narrow else self._opts_final
        if prompt:
            hyp = self._generate(encoder_output, content_frames, final, prompt, window_s)
            # an unsure decode under a prompt most likely skipped words it took for
            # the prompt's ("to help me." for a whole sentence): decoded again without
            if (
                not hyp.rejected
                and not suspect_prompted(hyp.text, prompt)
                and hyp.avg_logprob >= self.options.log_prob_threshold
            ):
                return replace(hyp, prompted=True)
        return self._generate(encoder_output, content_frames, final, "", window_s)

    def _continue(self, audio: np.ndarray, hyp: Hypothesis, narrow: bool) -> Hypothesis:
        """A final whose decode stopped short of its audio is decoded on from there.

        Whisper may close a segment and end its output with the next segment's start
        timestamp: "go on in the next window".  faster-whisper's loop does; a single
        window here would lose the rest of a long sentence.
        Not within ``CONTINUE_MIN_S`` of the end: that is the trailing pad, where a
        fresh window makes "Thank you." out of nothing.  At most ``MAX_CONTINUATIONS``
        more windows, each starting further on.
        """
        for _ in range(MAX_CONTINUATIONS):
            stopped = hyp.stopped_s
            if (
                stopped is None
                or stopped <= 0
                or audio.size / SAMPLE_RATE_HZ - stopped < CONTINUE_MIN_S
            ):
                break
            rest = self._decode_once(audio[int(stopped * SAMPLE_RATE_HZ) :], True, "", narrow)
            shifted = tuple(
                replace(w, start_s=w.start_s + stopped, end_s=w.end_s + stopped) for w in rest.words
            )
            hyp = replace(
                hyp,
                text=f"{hyp.text} {rest.text}".strip(),
                words=hyp.words + shifted,
                rejected=hyp.rejected if not rest.text else None,
                # a window that stopped at its own start made no progress: no further
                stopped_s=stopped + rest.stopped_s if rest.stopped_s else None,
            )
        return hyp

    def _generate(
        self,
        encoder_output: Any,
        content_frames: int,
        options: Any,
        prompt: str,
        window_s: float,
    ) -> Hypothesis:
        """Decode exactly one window.

        faster-whisper's own segment loop decodes the audio after the last timestamp
        token again, in a fresh 30 s window: a full encoder pass over the utterance's
        trailing pad, which is where "Thank you." and "You" come from.  One utterance
        is one window here; its text ends at the model's last timestamp.
        """
        tokenizer = self._tokenizer()
        previous = tokenizer.encode(" " + prompt.strip()) if prompt else []
        duration_s = content_frames / _FRAMES_PER_S
        cap = MAX_TOKENS_BASE + math.ceil(MAX_TOKENS_PER_S * duration_s)
        options = replace(options, max_new_tokens=cap)
        window = self._api.decode_window(encoder_output, tokenizer, previous, options)
        segments, seek = self._api.segments(tokenizer, window.tokens, content_frames, duration_s)
        stopped_s = seek / _FRAMES_PER_S if seek < content_frames else None
        segments = [seg for seg in segments if any(t < tokenizer.eot for t in seg["tokens"])]
        texts = [
            tokenizer.decode([t for t in seg["tokens"] if t < tokenizer.eot]) for seg in segments
        ]
        spans = [(seg["start"], seg["end"]) for seg in segments]
        real = [not p for p in phantoms(texts, spans, duration_s)]
        segments = [seg for seg, keep in zip(segments, real, strict=True) if keep]
        text = "".join(t for t, keep in zip(texts, real, strict=True) if keep).strip()
        if options.word_timestamps and segments:
            self._api.add_word_times(segments, tokenizer, encoder_output, content_frames)
        out_words = [
            DecodedWord(w["word"].strip(), w["start"], w["end"], w["probability"])
            for seg in segments
            for w in seg.get("words", ())
        ]
        avg_logprob, compression = window.avg_logprob, window.compression_ratio
        no_speech = window.no_speech_prob
        rejected = None
        if not text:
            rejected = "empty"
        elif (
            no_speech > self.options.no_speech_threshold
            and avg_logprob < self.options.log_prob_threshold
        ):
            rejected = "no_speech"
        elif (
            compression > self.options.compression_ratio_threshold
            or has_repetition_loop(text)
            or len(window.tokens) >= cap  # ran on to the cap: looping (MAX_TOKENS_PER_S)
        ):
            rejected = "loop"
        if rejected:  # an empty decode that stopped short may still go on (see _continue)
            return Hypothesis(
                "",
                (),
                avg_logprob,
                no_speech,
                compression,
                window_s,
                rejected,
                stopped_s=stopped_s if rejected == "empty" else None,
            )
        return Hypothesis(
            text,
            tuple(out_words),
            avg_logprob,
            no_speech,
            compression,
            window_s,
            stopped_s=stopped_s,
        )
