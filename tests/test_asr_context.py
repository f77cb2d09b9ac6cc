"""Conversation context for finals: what the prompt holds, and when a prompted decode is
not trusted.  The legs run on real VAD over real audio; decodes are hand-made."""

from __future__ import annotations

from dataclasses import replace

from conftest import read16k
from test_asr_stream import words_hyp

from voice_assist.asr.context import ConversationContext, repeats_itself, suspect_prompted
from voice_assist.asr.stream import DecodeRequest, LegTranscriber
from voice_assist.config import Settings


def test_context_keeps_the_last_words_in_order_and_zero_turns_it_off() -> None:
    ctx = ConversationContext(max_words=5)
    ctx.add("my internet is down")
    ctx.add("since Tuesday morning")
    assert ctx.prompt() == "is down since Tuesday morning"
    off = ConversationContext(max_words=0)
    off.add("anything")
    assert off.prompt() == ""


def test_a_result_saying_itself_twice_is_suspect() -> None:
    assert repeats_itself(["ten", "of", "clubs", "ten", "of", "clubs"])
    assert repeats_itself(
        ["will", "someone", "call", "before", "they", "arrive", "will", "someone", "call", "before"]
    )
    assert not repeats_itself(["no", "no", "no"])  # people do say that
    assert not repeats_itself(["thank", "you", "thank", "you"])
    assert suspect_prompted("Tomorrow works. Tomorrow works. Tomorrow works!", "")


def test_a_result_copying_the_prompt_is_suspect_but_sharing_a_word_is_not() -> None:
    prompt = "Can I have your account number please?"
    assert suspect_prompted("your account number please", prompt)
    assert not suspect_prompted("Yes, my number is 4 5 2.", prompt)


def _finals(leg: LegTranscriber, audio) -> list[DecodeRequest]:  # type: ignore[no-untyped-def]
    out: list[DecodeRequest] = []
    for i in range(0, audio.size, 1600):
        for r in leg.feed(audio[i : i + 1600]).requests:
            if r.kind == "final":
                out.append(r)
            else:
                assert r.prompt == ""  # partials are never prompted
    return out + leg.finish().requests


def test_both_legs_of_a_call_prompt_their_finals_with_the_released_text(
    settings: Settings,
) -> None:
    opts = replace(settings.asr, context_max_words=50, early_final_ms=0)
    ctx = ConversationContext(opts.context_max_words)
    agent = LegTranscriber(call_id="c1", channel="agent", options=opts, context=ctx)
    customer = LegTranscriber(call_id="c1", channel="customer", options=opts, context=ctx)
    audio = read16k("two_utterances_en.flac")

    first, second = _finals(agent, audio)
    assert first.prompt == ""
    agent.on_result(first, words_hyp("how can I help", 1.0))
    assert ctx.prompt() == "how can I help"
    # the agent's second final was requested before the first was released: no context then
    assert second.prompt == ""
    agent.on_result(second, words_hyp("you today", 1.0))

    (answer, _) = _finals(customer, audio)
    assert answer.prompt == "how can I help you today"


def test_context_off_by_default_gives_no_prompt(settings: Settings) -> None:
    leg = LegTranscriber(call_id="c1", channel="customer", options=settings.asr)
    audio = read16k("two_utterances_en.flac")
    first, second = _finals(leg, audio)
    leg.on_result(first, words_hyp("hello there", 1.0))
    third = _finals(leg, audio)[0]
    assert settings.asr.context_max_words == 0
    assert (first.prompt, second.prompt, third.prompt) == ("", "", "")
