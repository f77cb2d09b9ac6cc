"""The streaming policy, driven by real VAD on real audio and hand-made hypotheses.

The decoder is not under test here (see test_asr_model_e2e.py): each decode request
is answered with a Hypothesis built from the request's own span.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from conftest import read16k

from voice_assist.asr.decoder import DecodedWord, Hypothesis
from voice_assist.asr.stream import DecodeRequest, LegTranscriber, agreed_prefix
from voice_assist.config import Settings
from voice_assist.events import TranscriptEvent, VoiceActivity


def run_leg(settings: Settings, audio: np.ndarray, answer, chunk: int = 1600, **kw):  # type: ignore[no-untyped-def]
    leg = LegTranscriber(
        call_id="c1", channel=kw.pop("channel", "customer"), options=settings.asr, **kw
    )
    events, requests = [], []
    for i in range(0, audio.size, chunk):
        out = leg.feed(audio[i : i + chunk])
        events += out.events
        for r in out.requests:
            requests.append(r)
            events += leg.on_result(r, answer(r))
    out = leg.finish()
    events += out.events
    for r in out.requests:
        requests.append(r)
        events += leg.on_result(r, answer(r))
    return leg, events, requests


def words_hyp(text: str, duration_s: float) -> Hypothesis:
    words = text.split()
    step = duration_s / max(len(words), 1)
    return Hypothesis(
        text=text,
        words=tuple(DecodedWord(w, i * step, (i + 1) * step, 0.9) for i, w in enumerate(words)),
        avg_logprob=-0.2,
        no_speech_prob=0.01,
        compression_ratio=1.2,
        window_s=10.0,
    )


def test_two_utterances_give_two_finals_with_partials_every_second(settings: Settings) -> None:
    audio = read16k("two_utterances_en.flac")
    leg, events, requests = run_leg(
        settings, audio, lambda r: words_hyp(f"utt {r.utterance_index}", r.duration_s)
    )
    finals = [e for e in events if isinstance(e, TranscriptEvent) and e.is_final]
    assert [f.utterance_id for f in finals] == ["c0", "c1"]
    vad = [e.speaking for e in events if isinstance(e, VoiceActivity)]
    assert vad == [True, False, True, False]
    turns = [e.t_ms for e in events if isinstance(e, VoiceActivity)]
    for k, f in enumerate(finals):
        partial_ends = [
            r.end_sample
            for r in requests
            if r.kind == "partial" and r.utterance_id == f.utterance_id
        ]
        gaps = np.diff([turns[2 * k] * 16] + partial_ends + [f.end_ms * 16]) / 16000
        assert gaps.max() <= 1.0 + 0.04  # a refresh at least every second of speech
    # the first utterance is the ~4 s sentence after 0.5 s of silence
    assert 0.2 <= turns[0] / 1000 <= 0.6
    assert 3.5 <= (turns[1] - turns[0]) / 1000 <= 5.0
    assert leg.pending_finals == 0


def test_finals_decode_from_a_lead_in_that_stops_at_the_previous_utterance(
    settings: Settings,
) -> None:
    audio = read16k("two_utterances_en.flac")  # 0.5 s, sentence, 1.5 s pause, sentence
    for lead_ms in (0, 600, 3000):
        opts = replace(settings.asr, final_lead_in_ms=lead_ms)
        _, events, requests = run_leg(
            replace(settings, asr=opts), audio, lambda r: words_hyp("x y", r.duration_s)
        )
        starts = [e.t_ms * 16 for e in events if isinstance(e, VoiceActivity) and e.speaking]
        finals = [r for r in requests if r.kind == "final"]
        assert [r.start_sample for r in finals] == [
            max(0, starts[0] - lead_ms * 16),
            max(finals[0].end_sample, starts[1] - lead_ms * 16),
        ], lead_ms
        if lead_ms == 3000:  # the pause is shorter: the lead-in stops where the first ended
            assert finals[1].start_sample == finals[0].end_sample
        assert finals[1].audio.size == finals[1].end_sample - finals[1].start_sample


def test_silence_produces_no_requests(settings: Settings) -> None:
    _, events, requests = run_leg(settings, np.zeros(16000 * 5, np.float32), lambda r: None)
    assert requests == [] and events == []


def test_final_words_are_shifted_to_call_time(settings: Settings) -> None:
    audio = read16k("utterance_en.flac")
    _, events, requests = run_leg(
        settings, audio, lambda r: words_hyp("hello there you", r.duration_s)
    )
    final = next(e for e in events if isinstance(e, TranscriptEvent) and e.is_final)
    request = next(r for r in requests if r.kind == "final")
    assert final.words[0].start_ms == request.start_sample // 16 == final.start_ms
    assert final.words[-1].end_ms <= final.end_ms
    assert all(a.end_ms <= b.start_ms for a, b in zip(final.words, final.words[1:], strict=False))


def test_stable_prefix_is_what_two_partials_agree_on_and_never_shrinks(settings: Settings) -> None:
    audio = read16k("utterance_en.flac")
    script = iter(
        ["I have", "I have been waiting", "I've been waiting for", "I've been waiting for an hour"]
    )

    def answer(r: DecodeRequest) -> Hypothesis:
        return words_hyp(next(script, "I've been waiting for an hour and nobody"), r.duration_s)

    _, events, _ = run_leg(settings, audio, answer)
    partials = [e for e in events if isinstance(e, TranscriptEvent) and not e.is_final]
    assert len(partials) >= 3
    stable = [p.stable_text for p in partials]
    assert stable[0] == ""
    assert stable[1] == "I have"
    lengths = [len(s.split()) for s in stable]
    assert lengths == sorted(lengths)


def test_long_speech_is_split_below_the_limit_without_losing_audio(settings: Settings) -> None:
    audio = read16k("long_monologue_en.flac")
    leg, events, requests = run_leg(settings, audio, lambda r: words_hyp("x", r.duration_s))
    finals = [e for e in events if isinstance(e, TranscriptEvent) and e.is_final]
    assert len(finals) >= 2
    assert all(f.end_ms - f.start_ms <= settings.asr.max_utterance_ms for f in finals)
    # consecutive pieces of one speech run touch: nothing between them is lost
    touching = [
        (a, b) for a, b in zip(finals, finals[1:], strict=False) if b.start_ms - a.end_ms < 1000
    ]
    assert touching
    assert all(b.start_ms == a.end_ms for a, b in touching)


def test_early_final_is_used_when_the_silence_lasts(settings: Settings) -> None:
    audio = read16k("two_utterances_en.flac")
    _, events, requests = run_leg(
        settings, audio, lambda r: words_hyp(f"u{r.utterance_index}", r.duration_s)
    )
    finals = [e for e in events if isinstance(e, TranscriptEvent) and e.is_final]
    early = [r for r in requests if r.speculative]
    assert [f.text for f in finals] == ["u0", "u1"]
    # each utterance was decoded once as a final, early, and that decode was the final
    assert [r.kind for r in requests if r.kind == "final"] == ["final", "final"]
    assert [(r.start_sample // 16, r.end_sample // 16) for r in early] == [
        (f.start_ms, f.end_ms) for f in finals
    ]


def test_early_final_is_discarded_when_speech_resumes(settings: Settings) -> None:
    speech = read16k("utterance_en.flac")[8000:-20000]
    pause = np.zeros(
        int(0.4 * 16000), np.float32
    )  # longer than early_final_ms, shorter than end_silence_ms
    audio = np.concatenate(
        [
            np.zeros(8000, np.float32),
            speech[:24000],
            pause,
            speech[24000:],
            np.zeros(16000, np.float32),
        ]
    )
    _, events, requests = run_leg(
        settings, audio, lambda r: words_hyp(f"{r.start_sample}-{r.end_sample}", r.duration_s)
    )
    finals = [e for e in events if isinstance(e, TranscriptEvent) and e.is_final]
    assert len(finals) == 1  # one utterance: the pause did not split it
    stale = [
        r
        for r in requests
        if r.speculative and f"{r.start_sample}-{r.end_sample}" != finals[0].text
    ]
    assert stale, "an early final was started in the pause"
    assert all(r.end_sample < finals[0].end_ms * 16 for r in stale)
    # and the transcriber withdraws it, so the pool need not decode it
    leg = LegTranscriber(call_id="c1", channel="customer", options=settings.asr)
    withdrawn = []
    for i in range(0, audio.size, 1600):
        withdrawn += leg.feed(audio[i : i + 1600]).withdrawn
    assert withdrawn and all(r.speculative for r in withdrawn)
    assert finals[0].end_ms - finals[0].start_ms > (speech.size + pause.size) / 16 - 600


def test_finals_are_released_in_order_even_if_decoded_out_of_order(settings: Settings) -> None:
    leg = LegTranscriber(call_id="c1", channel="agent", options=settings.asr)
    audio = read16k("two_utterances_en.flac")
    finals: list[DecodeRequest] = []
    for i in range(0, audio.size, 1600):
        finals += [r for r in leg.feed(audio[i : i + 1600]).requests if r.kind == "final"]
    finals += leg.finish().requests
    assert len(finals) == 2
    assert leg.on_result(finals[1], words_hyp("second", 1.0)) == []
    out = leg.on_result(finals[0], words_hyp("first", 1.0))
    assert [e.text for e in out if isinstance(e, TranscriptEvent)] == ["first", "second"]


def test_failed_or_empty_decodes_emit_no_text(settings: Settings) -> None:
    audio = read16k("utterance_en.flac")
    _, events, _ = run_leg(settings, audio, lambda r: None)
    assert not [e for e in events if isinstance(e, TranscriptEvent)]


def test_agreed_prefix_ignores_case_and_punctuation() -> None:
    assert agreed_prefix(["Hello,", "world"], ["hello", "World!", "again"]) == 2
    assert agreed_prefix(["a", "b"], ["a", "c"]) == 1
    assert agreed_prefix([], ["a"]) == 0


def partial_ends_s(requests: list[DecodeRequest]) -> list[float]:
    return [r.end_sample / 16000 for r in requests if r.kind == "partial"]


def test_no_partials_while_nobody_watches_the_leg_and_the_finals_are_unchanged(
    settings: Settings,
) -> None:
    audio = read16k("two_utterances_en.flac")
    answer = lambda r: words_hyp(f"utt {r.utterance_index}", r.duration_s)  # noqa: E731
    watching = [False]
    _, events, requests = run_leg(settings, audio, answer, watched=lambda: watching[0])
    assert partial_ends_s(requests) == []
    finals = [e.text for e in events if isinstance(e, TranscriptEvent) and e.is_final]
    _, events_w, requests_w = run_leg(settings, audio, answer, watched=lambda: True)
    assert len(partial_ends_s(requests_w)) >= 3
    assert finals == [e.text for e in events_w if isinstance(e, TranscriptEvent) and e.is_final]
    # the option decodes them anyway
    always = replace(settings, asr=replace(settings.asr, partials_unwatched=True))
    _, _, requests_a = run_leg(always, audio, answer, watched=lambda: False)
    assert partial_ends_s(requests_a) == partial_ends_s(requests_w)


def test_the_agent_leg_has_partials_at_its_own_interval(settings: Settings) -> None:
    audio = read16k("two_utterances_en.flac")
    answer = lambda r: words_hyp("w", r.duration_s)  # noqa: E731
    opts = replace(settings.asr, partial_interval_ms=1000, agent_partial_interval_ms=2000)
    s2 = replace(settings, asr=opts)
    customer = partial_ends_s(run_leg(s2, audio, answer, channel="customer")[2])
    agent = partial_ends_s(run_leg(s2, audio, answer, channel="agent")[2])
    assert len(agent) >= 1
    assert len(customer) >= 2 * len(agent) - 1
    gaps = [b - a for a, b in zip(agent, agent[1:], strict=False) if b - a < 5]
    assert all(g >= 1.99 for g in gaps)
