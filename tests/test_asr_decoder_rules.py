"""The decoder's retry rules, with ``_generate`` faked: which decodes run, and which
result is kept (the real model only supplies the features and the encoder pass)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from voice_assist.asr.decoder import Decoder, Hypothesis
from voice_assist.config import Settings
from voice_assist.errors import ConfigError

pytestmark = pytest.mark.model

PROMPT = "my router has been broken since tuesday"
SPEECH = np.random.default_rng(0).normal(0, 0.1, 16000 * 2).astype(np.float32)


def hyp(text: str, avg_logprob: float = -0.3, rejected: str | None = None) -> Hypothesis:
    return Hypothesis(text, (), avg_logprob, 0.01, 1.2, 10.0, rejected)


class FakeGenerate:
    """Answers each decode from a table keyed by whether it was prompted."""

    def __init__(self, prompted: Hypothesis, plain: Hypothesis) -> None:
        self.answers = {True: prompted, False: plain}
        self.calls: list[tuple[str, Any]] = []

    def __call__(
        self, encoder_output: Any, content_frames: int, options: Any, prompt: str, window_s: float
    ) -> Hypothesis:
        self.calls.append((prompt, options))
        return self.answers[bool(prompt)]


@pytest.fixture
def decoder(whisper_model, settings: Settings) -> Decoder:  # type: ignore[no-untyped-def]
    return Decoder(whisper_model, settings.asr)


def run(decoder: Decoder, fake: FakeGenerate, **kw: Any) -> Hypothesis:
    decoder._generate = fake  # type: ignore[method-assign]
    return decoder.decode(SPEECH, words=True, prompt=PROMPT, **kw)


def test_a_sound_prompted_final_is_kept(decoder: Decoder) -> None:
    fake = FakeGenerate(hyp("it stopped working again today"), hyp("unused"))
    out = run(decoder, fake)
    assert out.prompted and out.text == "it stopped working again today"
    assert [p for p, _ in fake.calls] == [PROMPT]


@pytest.mark.parametrize(
    "prompted",
    [
        hyp("", rejected="empty"),
        hyp("router has been broken since tuesday again"),  # copies the prompt
        hyp("to help me.", avg_logprob=-1.07),  # unsure: skipped words it took for the prompt's
    ],
    ids=["rejected", "copies-prompt", "unsure"],
)
def test_a_misled_prompted_final_is_decoded_again_without_the_prompt(
    decoder: Decoder, prompted: Hypothesis
) -> None:
    fake = FakeGenerate(prompted, hyp("i have been waiting for an hour"))
    out = run(decoder, fake)
    assert not out.prompted and out.text == "i have been waiting for an hour"
    assert [p for p, _ in fake.calls] == [PROMPT, ""]


def test_finals_take_the_configured_temperature_schedule_partials_stay_greedy(
    whisper_model,  # type: ignore[no-untyped-def]
    settings: Settings,
) -> None:
    asr = replace(settings.asr, final_temperatures=(0.0, 0.4))
    decoder = Decoder(whisper_model, asr)
    fake = FakeGenerate(hyp("unused"), hyp("fine"))
    decoder._generate = fake  # type: ignore[method-assign]
    decoder.decode(SPEECH, words=True)
    decoder.decode(SPEECH, words=False)
    final_opts, partial_opts = fake.calls[0][1], fake.calls[1][1]
    assert list(final_opts.temperatures) == [0.0, 0.4]
    assert list(partial_opts.temperatures) == [0.0]


def test_the_default_schedule_is_greedy_so_a_decode_repeats(settings: Settings) -> None:
    assert settings.asr.final_temperatures == (0.0,)


@pytest.mark.parametrize("temps", [(), (0.0, 1.5), (-0.1,)])
def test_a_bad_temperature_schedule_is_refused(
    whisper_model,  # type: ignore[no-untyped-def]
    settings: Settings,
    temps: tuple[float, ...],
) -> None:
    with pytest.raises(ConfigError, match="final_temperatures"):
        Decoder(whisper_model, replace(settings.asr, final_temperatures=temps))


def test_a_decode_is_capped_by_its_audio_and_one_that_reaches_the_cap_is_a_loop(
    decoder: Decoder,
) -> None:
    from voice_assist.asr.decoder import MAX_TOKENS_BASE, MAX_TOKENS_PER_S
    from voice_assist.asr.whisper_api import WindowDecode

    tokenizer = decoder._tokenizer()
    loop = tokenizer.encode(" we can") * 200  # what a looping decode emits, cut at the cap
    seen: list[int] = []

    def decode_window(encoder_output: Any, tok: Any, previous: Any, options: Any) -> WindowDecode:
        seen.append(options.max_new_tokens)
        cut = [tokenizer.timestamp_begin, *loop][: options.max_new_tokens]
        return WindowDecode(cut, -0.2, 0.01, 1.5)  # compression under the rule's threshold

    decoder._api.decode_window = decode_window  # type: ignore[method-assign]
    out = decoder.decode(SPEECH, words=True)  # 2 s of audio
    two_s = MAX_TOKENS_BASE + 2 * MAX_TOKENS_PER_S  # the mel frames may round up one token
    assert seen and two_s <= seen[0] <= two_s + 1
    assert out.text == "" and out.rejected == "loop"
