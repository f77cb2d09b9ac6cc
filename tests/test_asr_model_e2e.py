"""The real Whisper model behind the decoder: speech in, words out; non-speech, no text."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import read16k

from benchmarks.asr import normalise
from voice_assist.asr.decoder import (
    CONTINUE_MIN_S,
    Decoder,
    has_repetition_loop,
    phantoms,
    window_frames,
)
from voice_assist.config import Settings

pytestmark = pytest.mark.model

REFERENCE = "i have been waiting for an hour and nobody has helped me"


def words(text: str) -> list[str]:
    """Whisper's English normalisation ("I've" -> "i have"), as the WER benchmark uses."""
    return normalise(text, "en").split()


@pytest.fixture(scope="module")
def decoder(whisper_model, settings: Settings) -> Decoder:  # type: ignore[no-untyped-def]
    return Decoder(whisper_model, settings.asr)


def test_decodes_speech_with_word_times(decoder: Decoder) -> None:
    audio = read16k("utterance_en.flac")[8000:-16000]  # the sentence without the silences
    hyp = decoder.decode(audio, words=True)
    got = words(hyp.text)
    ref = REFERENCE.split()
    assert len(set(got) & set(ref)) >= len(ref) - 2, hyp.text
    assert hyp.words and hyp.words[0].start_s < 0.5
    assert hyp.words[-1].end_s <= audio.size / 16000 + 0.1
    assert hyp.window_s == 10.0


def test_finals_can_take_whispers_full_window(whisper_model, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    wide = Decoder(whisper_model, replace(settings.asr, final_min_window_ms=30000))
    audio = read16k("utterance_en.flac")[8000:-16000]
    hyp = wide.decode(audio, words=True)
    assert hyp.window_s == 30.0 and hyp.words
    assert len(set(words(hyp.text)) & set(REFERENCE.split())) >= len(REFERENCE.split()) - 2
    assert wide.decode(audio, words=False).window_s == 5.0  # partials: the shortest one
    assert wide.decode(audio, words=True, narrow=True).window_s == 10.0  # a busy pool's final


def test_no_text_from_silence_or_noise(decoder: Decoder) -> None:
    rng = np.random.default_rng(7)
    assert decoder.decode(np.zeros(32000, np.float32), words=True).text == ""
    noise = (0.2 * rng.standard_normal(48000)).astype(np.float32)
    hum = (0.3 * np.sin(2 * np.pi * 50 * np.arange(48000) / 16000)).astype(np.float32)
    for audio in (noise, hum):
        hyp = decoder.decode(audio, words=True)
        assert len(words(hyp.text)) <= 1, hyp


def test_clipped_speech_still_decodes(decoder: Decoder) -> None:
    audio = np.clip(read16k("utterance_en.flac")[8000:-16000] * 20, -1, 1)
    hyp = decoder.decode(audio, words=False)
    assert len(set(words(hyp.text)) & set(REFERENCE.split())) >= 6, hyp.text


def test_window_grows_in_steps_with_a_floor(settings: Settings) -> None:
    opts = settings.asr
    assert window_frames(16000, opts) == 1000
    assert window_frames(16000 * 12, opts) == 1500
    assert window_frames(16000 * 40, opts) == 3000
    wide = replace(opts, final_min_window_ms=30000)
    assert window_frames(16000, wide, final=True) == 3000
    assert window_frames(16000, wide) == 1000
    mid = replace(opts, final_min_window_ms=15000)
    assert window_frames(16000, mid, final=True) == 1500
    assert window_frames(16000 * 17, mid, final=True) == 2000


def test_repetition_loops_are_detected() -> None:
    assert has_repetition_loop("thank you. thank you. thank you. thank you. thank you.")
    assert has_repetition_loop("So so so so so so so so so")
    assert not has_repetition_loop("no no I said the bill, not the phone")
    # people repeat themselves too: short runs are speech
    assert not has_repetition_loop("No, no, no, no, that is not what I asked for.")
    assert not has_repetition_loop("And here's some more words, words, words, words.")


def test_phantom_segments_are_outside_the_audio_or_echo_past_its_end() -> None:
    said = "I want a refund today."
    # the observed failure: the sentence again, from 7 s to 10 s of 7.9 s of audio
    assert phantoms([said, said], [(0.0, 7.0), (7.0, 10.0)], 7.9) == [False, True]
    # a caller who says it twice says it inside the audio: both kept
    assert phantoms([said, said], [(0.0, 3.0), (3.5, 6.5)], 7.9) == [False, False]
    assert phantoms([said, said], [(0.0, 3.0), (3.5, 7.92)], 7.9) == [False, False]  # cut
    # short repeats are speech, and a segment that starts after the audio is not
    assert phantoms(["No.", "No."], [(0.0, 0.5), (0.6, 9.0)], 1.2) == [False, False]
    assert phantoms(["Thank you.", "Bye."], [(0.0, 1.0), (2.0, 3.0)], 2.0) == [False, True]


def test_a_final_that_stopped_short_is_decoded_on_from_there(decoder: Decoder) -> None:
    """Whisper may end its output early with "go on in the next window"; the rest of the
    audio is then decoded on, its words shifted to the utterance's time."""
    audio = read16k("two_utterances_en.flac")[:-16000]
    first = audio[: int(5.4 * 16000)]  # the first sentence and the start of the pause
    head = decoder.decode(first, words=True)
    stopped = replace(head, stopped_s=first.size / 16000)
    whole = decoder._continue(audio, stopped, narrow=False)  # noqa: SLF001
    assert whole.text.startswith(head.text) and len(whole.words) > len(head.words) + 8
    assert {"check", "account", "going"} <= set(words(whole.text[len(head.text) :])), whole.text
    later = whole.words[len(head.words) :]
    assert later[0].start_s >= first.size / 16000 - 0.05
    assert all(a.start_s <= b.start_s for a, b in zip(whole.words, whole.words[1:], strict=False))
    # a stop inside the trailing pad is not worth a window ("Thank you." from nothing)
    near_end = replace(head, stopped_s=audio.size / 16000 - CONTINUE_MIN_S / 2)
    assert decoder._continue(audio, near_end, narrow=False) == near_end  # noqa: SLF001
    # a stop at the start is no progress: never the same window again
    at_start = replace(head, stopped_s=0.0)
    assert decoder._continue(audio, at_start, narrow=False) == at_start  # noqa: SLF001


def test_a_prompted_final_still_hears_the_speech(decoder: Decoder) -> None:
    audio = read16k("utterance_en.flac")[8000:-16000]
    hyp = decoder.decode(audio, words=True, prompt="My router has been broken since Tuesday.")
    assert len(set(words(hyp.text)) & set(REFERENCE.split())) >= len(REFERENCE.split()) - 2
    assert hyp.words and hyp.prompted


def test_a_final_that_repeats_its_prompt_is_decoded_again_without_it(decoder: Decoder) -> None:
    audio = read16k("utterance_en.flac")[8000:-16000]
    hyp = decoder.decode(audio, words=True, prompt=REFERENCE)
    assert not hyp.prompted  # any right answer shares three words with this prompt
    assert len(set(words(hyp.text)) & set(REFERENCE.split())) >= len(REFERENCE.split()) - 2


def test_one_window_no_words_after_the_speech(decoder: Decoder) -> None:
    speech = read16k("utterance_en.flac")[8000:-16000]
    audio = np.concatenate([speech, np.zeros(4 * 16000, np.float32)])
    hyp = decoder.decode(audio, words=True)
    assert len(words(hyp.text)) <= len(REFERENCE.split()) + 1, hyp.text
    assert hyp.words[-1].end_s <= speech.size / 16000 + 0.5


def test_a_narrow_final_is_greedy_and_still_hears_the_speech(
    decoder: Decoder,
) -> None:
    audio = read16k("utterance_en.flac")[8000:-16000]
    hyp = decoder.decode(audio, words=True, narrow=True)
    assert len(set(words(hyp.text)) & set(REFERENCE.split())) >= len(REFERENCE.split()) - 2
    assert hyp.words
