"""The coaching policy, tested by feeding events to a Coach and asserting what comes out."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_assist.coach import Coach, PhraseLibrary, load_phrases
from voice_assist.coach.acknowledgement import find_acknowledgement, names_feeling
from voice_assist.coach.script_lines import ScriptLineDetector
from voice_assist.config import CoachOptions
from voice_assist.events import (
    Alert,
    CallMetrics,
    CallStarted,
    DistressEpisode,
    DistressUpdate,
    EmpathyScore,
    Event,
    Prompt,
    PromptAck,
    PromptClear,
    TranscriptEvent,
    VoiceActivity,
    Word,
)
from voice_assist.wire import from_wire, to_wire

CALL = "call-1"
PHRASES: PhraseLibrary = load_phrases()
E = TypeVar("E", bound=Event)


class Harness:
    """Feeds one call's events to a Coach and keeps everything it emits, in order."""

    def __init__(self, *, mixed_leg: bool = False, **options: Any) -> None:
        self.options = dataclasses.replace(CoachOptions(), **options)
        self.coach = Coach(call_id=CALL, options=self.options, phrases=PHRASES, mixed_leg=mixed_leg)
        self.out: list[Event] = []
        self._n = 0

    def _keep(self, events: list[Event]) -> list[Event]:
        self.out.extend(events)
        return events

    def feed(self, ev: Event) -> list[Event]:
        return self._keep(self.coach.on_event(ev))

    def tick(self, t_ms: int) -> list[Event]:
        return self._keep(self.coach.tick(t_ms))

    def finish(self, t_ms: int) -> list[Event]:
        return self._keep(self.coach.finish(t_ms))

    def say(
        self,
        channel: str,
        text: str,
        start_ms: int,
        end_ms: int,
        *,
        t_ms: int | None = None,
        words: bool = True,
    ) -> list[Event]:
        """A final utterance; its words spread evenly over [start_ms, end_ms]."""
        self._n += 1
        split = text.split()
        step = (end_ms - start_ms) // max(1, len(split))
        word_tuple = tuple(
            Word(
                text=w,
                start_ms=start_ms + i * step,
                end_ms=start_ms + (i + 1) * step,
                probability=0.9,
            )
            for i, w in enumerate(split)
        )
        return self.feed(
            TranscriptEvent(
                call_id=CALL,
                t_ms=end_ms + 600 if t_ms is None else t_ms,
                channel=channel,  # type: ignore[arg-type]
                utterance_id=f"{channel}-{self._n}",
                is_final=True,
                text=text,
                start_ms=start_ms,
                end_ms=end_ms,
                words=word_tuple if words else (),
            )
        )

    def vad(self, channel: str, speaking: bool, t_ms: int) -> list[Event]:
        return self.feed(
            VoiceActivity(call_id=CALL, t_ms=t_ms, channel=channel, speaking=speaking)  # type: ignore[arg-type]
        )

    def distress(self, score: float, t_ms: int, level: str | None = None) -> list[Event]:
        if level is None:
            level = "high" if score >= 0.75 else "elevated" if score >= 0.5 else "calm"
        return self.feed(
            DistressUpdate(
                call_id=CALL,
                t_ms=t_ms,
                channel="customer",
                score=score,
                level=level,  # type: ignore[arg-type]
                provisional=False,
                features={"loudness_z": 2.1, "pitch_z": 1.4, "rate_z": 0.3},
            )
        )

    def episode(
        self,
        episode_id: str,
        t_ms: int,
        *,
        state: str = "start",
        peak: float = 0.8,
        cause: Sequence[str] = ("anger",),
    ) -> list[Event]:
        return self.feed(
            DistressEpisode(
                call_id=CALL,
                t_ms=t_ms,
                channel="customer",
                episode_id=episode_id,
                state=state,  # type: ignore[arg-type]
                peak=peak,
                cause=tuple(cause),
            )
        )

    def ack(self, prompt_id: str, action: str, t_ms: int) -> list[Event]:
        return self.feed(
            PromptAck(call_id=CALL, t_ms=t_ms, prompt_id=prompt_id, action=action)  # type: ignore[arg-type]
        )


def of(events: Iterable[Event], cls: type[E], **match: Any) -> list[E]:
    """Events of one type whose fields equal ``match``."""
    return [
        e
        for e in events
        if isinstance(e, cls) and all(getattr(e, k) == v for k, v in match.items())
    ]


def one(events: Iterable[Event], cls: type[E], **match: Any) -> E:
    found = of(events, cls, **match)
    assert len(found) == 1, (cls.__name__, match, list(events))
    return found[0]


def check_invariants(out: Sequence[Event], max_open: int) -> None:
    """Ids unique, clears only of open prompts, never more than max_open open, clock monotone,
    every event serialisable through the wire format."""
    open_ids: set[str] = set()
    seen: set[str] = set()
    last_t = -math.inf
    for ev in out:
        assert ev.call_id == CALL
        assert ev.t_ms >= last_t
        last_t = ev.t_ms
        if isinstance(ev, Prompt):
            assert ev.prompt_id not in seen
            seen.add(ev.prompt_id)
            open_ids.add(ev.prompt_id)
            assert len(open_ids) <= max_open
        elif isinstance(ev, PromptClear):
            assert ev.prompt_id in open_ids, ev
            open_ids.remove(ev.prompt_id)
        json.dumps(to_wire(ev, seq=0))
    alert_ids = [a.alert_id for a in of(out, Alert)]
    assert len(alert_ids) == len(set(alert_ids))


def distressed_call(h: Harness, *, cause: Sequence[str] = ("anger",), peak: float = 0.8) -> Prompt:
    """Customer complains, distress rises, an episode starts at 6000: the pause prompt."""
    h.say("customer", "This is the third time I've called and it's still not working!", 1000, 5000)
    h.distress(0.8, 5800)
    out = h.episode("e1", 6000, peak=peak, cause=cause)
    return one(out, Prompt, kind="pause_and_acknowledge")


# -- pause and acknowledge ------------------------------------------------------------------


def test_episode_raises_pause_prompt_with_feeling_phrase_and_evidence() -> None:
    h = Harness()
    prompt = distressed_call(h)
    assert prompt.severity == "urgent"
    assert prompt.prompt_id == f"{CALL}-p0"
    assert prompt.episode_id == "e1"
    assert prompt.ttl_ms == h.options.prompt_ttl_ms
    assert prompt.text
    assert names_feeling(prompt.suggested_phrase)
    assert find_acknowledgement(prompt.suggested_phrase) is not None
    assert prompt.suggested_phrase in PHRASES.group_for(("anger",)).phrases
    ev = prompt.evidence
    assert ev["peak"] == pytest.approx(0.8)
    assert ev["cause"] == ["anger"]
    assert ev["utterance"].startswith("This is the third time")  # type: ignore[attr-defined]
    assert ev["features"] == {"loudness_z": 2.1, "pitch_z": 1.4, "rate_z": 0.3}
    score = one(h.out, EmpathyScore)
    assert (score.episodes, score.acknowledged, score.ack_latency_ms) == (1, 0, ())
    alert = one(h.out, Alert, kind="distress_episode")
    assert alert.severity == "urgent"
    assert alert.alert_id == f"{CALL}-a0"
    check_invariants(h.out, h.options.max_open_prompts)


def test_a_mixed_leg_episode_prompts_no_one_unless_the_config_asks() -> None:
    """A mono recording: the agent's voice is on the customer leg too."""
    h = Harness(mixed_leg=True)
    h.say("customer", "This is the third time I've called and it's still not working!", 1000, 5000)
    h.distress(0.8, 5800)
    h.episode("e1", 6000)
    assert of(h.out, Prompt) == [] and of(h.out, Alert) == []
    asked = Harness(mixed_leg=True, mixed_leg_prompts=True)
    assert distressed_call(asked).kind == "pause_and_acknowledge"
    assert of(asked.out, Alert, kind="distress_episode")


def test_lower_peak_gives_warn_alert() -> None:
    h = Harness()
    distressed_call(h, peak=0.62)
    assert one(h.out, Alert, kind="distress_episode").severity == "warn"


@pytest.mark.parametrize(
    ("cause", "group"),
    [
        (("life_event:bereavement",), "bereavement"),
        (("prosody:loud", "life_event:bereavement"), "bereavement"),
        (("repeat_contact",), "repeat_contact"),
        (("life_event:move",), "move"),
        (("prosody:fast",), "anger"),
        (("never_heard_of_it",), "default"),
        ((), "default"),
    ],
)
def test_phrase_follows_cause(cause: tuple[str, ...], group: str) -> None:
    prompt = distressed_call(Harness(), cause=cause)
    chosen = PHRASES.group_for(cause)
    assert chosen.name == group
    assert prompt.suggested_phrase in chosen.phrases
    assert prompt.evidence["cause_group"] == group
    if chosen.instruction:
        assert prompt.text == chosen.instruction


def test_bereavement_phrase_offers_condolence() -> None:
    prompt = distressed_call(Harness(), cause=("life_event:bereavement",))
    assert "loss" in prompt.suggested_phrase.lower() or "sorry" in prompt.suggested_phrase.lower()


def test_newer_pause_prompt_supersedes_older_one() -> None:
    h = Harness()
    first = distressed_call(h)
    h.episode("e1", 9000, state="end", peak=0.8)
    out = h.episode("e2", 6000 + h.options.min_prompt_gap_ms + 1000, cause=("anger",))
    clear = one(out, PromptClear, prompt_id=first.prompt_id)
    assert clear.reason == "superseded"
    second = one(out, Prompt, kind="pause_and_acknowledge")
    assert second.prompt_id == f"{CALL}-p1"
    assert out.index(clear) < out.index(second)
    assert second.suggested_phrase != first.suggested_phrase  # phrases rotate
    check_invariants(h.out, h.options.max_open_prompts)


# -- acknowledgement -------------------------------------------------------------------------


def test_acknowledgement_clears_prompt_and_records_latency() -> None:
    h = Harness()
    prompt = distressed_call(h)
    # "Oh no." then the acknowledgement; 11 words spread evenly over 7000..12000
    out = h.say("agent", "Oh no. I can see where that would be extremely frustrating.", 7000, 12000)
    step = 5000 // 11
    clear = one(out, PromptClear, prompt_id=prompt.prompt_id)
    assert clear.reason == "followed"
    score = one(out, EmpathyScore)
    assert (score.episodes, score.acknowledged) == (1, 1)
    # latency from the episode start (6000) to the acknowledgement's first word (the third)
    assert score.ack_latency_ms == (7000 + 2 * step - 6000,)
    assert of(out, Prompt, kind="script") == []
    rec = h.coach.empathy_episodes()[0]
    assert rec.ack_source == "transcript"
    assert rec.ack_phrase.startswith("I can see where")


def test_acknowledgement_without_words_uses_utterance_start() -> None:
    h = Harness()
    distressed_call(h)
    out = h.say("agent", "That sounds really frustrating.", 7500, 9000, words=False)
    assert one(out, EmpathyScore).ack_latency_ms == (1500,)


def test_late_acknowledgement_does_not_count() -> None:
    h = Harness()
    distressed_call(h)
    late = 6000 + h.options.ack_window_ms + 5000
    out = h.say("agent", "That sounds really frustrating.", late, late + 1500)
    assert of(out, EmpathyScore) == []
    final = one(h.finish(late + 5000), EmpathyScore)
    assert (final.episodes, final.acknowledged, final.ack_latency_ms) == (1, 0, ())


def test_acknowledgement_long_before_the_episode_does_not_count() -> None:
    h = Harness()
    h.say("customer", "My bill is wrong.", 0, 1000)
    h.say("agent", "Oh, that sounds annoying.", 1200, 2500, t_ms=2600)
    prompt = distressed_call(h)  # episode at 6000, > 2 s after the agent's utterance ended
    assert of(h.out, PromptClear) == []
    # an acknowledgement finalised late but said just before the episode was raised counts
    out = h.say("agent", "I can see why that's upsetting.", 4500, 5500, t_ms=6500)
    assert one(out, PromptClear, prompt_id=prompt.prompt_id).reason == "followed"
    assert one(out, EmpathyScore).ack_latency_ms == (0,)


def test_acknowledgement_without_episode_changes_nothing() -> None:
    h = Harness()
    out = h.say("agent", "I'm so sorry to hear that.", 1000, 2000)
    assert out == []


# -- prompt lifecycle -------------------------------------------------------------------------


def test_prompt_expires_after_ttl_and_alerts_supervisor() -> None:
    h = Harness()
    prompt = distressed_call(h)
    assert of(h.tick(prompt.t_ms + prompt.ttl_ms - 1), PromptClear) == []
    out = h.tick(prompt.t_ms + prompt.ttl_ms)
    assert one(out, PromptClear).reason == "expired"
    alert = one(out, Alert, kind="prompt_unacknowledged")
    assert alert.severity == "warn"
    assert of(h.tick(prompt.t_ms + 3 * prompt.ttl_ms), PromptClear) == []
    check_invariants(h.out, h.options.max_open_prompts)


def test_dismissed_prompt_is_cleared_and_not_alerted() -> None:
    h = Harness()
    prompt = distressed_call(h)
    assert h.ack(prompt.prompt_id, "shown", 6200) == []
    out = h.ack(prompt.prompt_id, "dismissed", 6500)
    assert one(out, PromptClear).reason == "dismissed"
    assert h.ack(prompt.prompt_id, "dismissed", 6600) == []  # already gone
    assert of(h.tick(60000), Alert) == []


def test_followed_on_overlay_counts_as_acknowledged() -> None:
    h = Harness()
    prompt = distressed_call(h)
    out = h.ack(prompt.prompt_id, "followed", 9000)
    assert one(out, PromptClear).reason == "followed"
    score = one(out, EmpathyScore)
    assert (score.acknowledged, score.ack_latency_ms) == (1, (3000,))
    assert h.coach.empathy_episodes()[0].ack_source == "overlay"


def test_unknown_prompt_ack_is_ignored() -> None:
    h = Harness()
    distressed_call(h)
    assert h.ack("no-such-prompt", "followed", 7000) == []


def test_finish_clears_open_prompts_and_sends_final_score() -> None:
    h = Harness()
    prompt = distressed_call(h)
    out = h.finish(8000)
    assert one(out, PromptClear, prompt_id=prompt.prompt_id).reason == "call_ended"
    final = out[-1]
    assert isinstance(final, EmpathyScore)
    assert (final.episodes, final.acknowledged) == (1, 0)
    assert h.finish(9000) == []
    assert h.say("agent", "I know how you feel", 9000, 10000) == []
    assert h.tick(20000) == []
    check_invariants(h.out, h.options.max_open_prompts)


def test_finish_on_quiet_call() -> None:
    out = Harness().finish(1000)
    assert len(out) == 1
    score = out[0]
    assert isinstance(score, EmpathyScore)
    assert (score.episodes, score.acknowledged, score.ack_latency_ms) == (0, 0, ())


# -- rate limiting ----------------------------------------------------------------------------


def test_storm_of_episodes_does_not_storm_prompts() -> None:
    h = Harness()
    span_ms = 60000
    for i in range(120):
        t = i * 500
        h.distress(0.9, t)
        h.episode(f"e{i}", t, cause=("anger",))
        h.episode(f"e{i}", t + 400, state="end")
        h.tick(t + 450)
    pause = of(h.out, Prompt, kind="pause_and_acknowledge")
    assert 1 < len(pause) <= span_ms // h.options.min_prompt_gap_ms + 1
    gaps = [b.t_ms - a.t_ms for a, b in zip(pause, pause[1:], strict=False)]
    assert min(gaps) >= h.options.min_prompt_gap_ms
    alerts = of(h.out, Alert, kind="distress_episode")
    assert len(alerts) <= span_ms // h.options.min_prompt_gap_ms + 1
    final = one(h.finish(span_ms + 1000), EmpathyScore, episodes=120)
    assert final.acknowledged == 0
    check_invariants(h.out, h.options.max_open_prompts)


def test_rate_limited_episode_is_acknowledged_through_the_open_prompt() -> None:
    h = Harness()
    prompt = distressed_call(h)
    h.episode("e1", 7000, state="end")
    assert of(h.episode("e2", 8000), Prompt) == []  # within the gap: no new prompt
    out = h.ack(prompt.prompt_id, "followed", 9000)
    assert one(out, EmpathyScore).acknowledged == 2


def test_storm_of_script_lines_is_rate_limited() -> None:
    h = Harness()
    for i in range(60):
        t = i * 1000
        h.say("agent", "I know how you feel. I understand, Mr. Smith.", t, t + 800)
        h.tick(t + 900)
    scripts = of(h.out, Prompt, kind="script")
    assert 1 < len(scripts) <= 60000 // h.options.min_prompt_gap_ms + 1
    check_invariants(h.out, h.options.max_open_prompts)


def test_cap_on_open_prompts_keeps_the_important_one() -> None:
    h = Harness(max_open_prompts=2, min_prompt_gap_ms=0, prompt_ttl_ms=10**9)
    prompt = distressed_call(h)
    for i in range(10):
        t = 10000 + i * 1000
        h.say("agent", "I know how you feel.", t, t + 500)
    check_invariants(h.out, 2)
    open_now = {p.prompt_id for p in of(h.out, Prompt)} - {
        c.prompt_id for c in of(h.out, PromptClear)
    }
    assert prompt.prompt_id in open_now
    assert len(open_now) == 2


# -- script nudges ----------------------------------------------------------------------------


def test_fantastic_right_after_complaint_is_nudged() -> None:
    h = Harness()
    h.say("customer", "You charged me twice and nobody has called me back.", 1000, 4000)
    out = h.say("agent", "Fantastic!", 4300, 4800)
    nudge = one(out, Prompt, kind="script")
    assert nudge.evidence["script"] == "stock_reply"
    assert nudge.evidence["customer_utterance"].startswith("You charged me twice")  # type: ignore[attr-defined]
    assert nudge.suggested_phrase in PHRASES.script("stock_reply").better
    assert nudge.severity == "info"
    assert nudge.text == PHRASES.script("stock_reply").text


def test_fantastic_after_good_news_is_fine() -> None:
    h = Harness()
    h.say("customer", "I'd like to upgrade my plan please.", 1000, 3000)
    assert of(h.say("agent", "Fantastic!", 3300, 3800), Prompt) == []


def test_fantastic_long_after_complaint_is_fine() -> None:
    h = Harness()
    h.say("customer", "The router is broken again.", 1000, 3000)
    h.say("agent", "Let me have a look at the line for you.", 3500, 6000)
    assert of(h.say("agent", "Perfect.", 30000, 30500), Prompt) == []


def test_stock_reply_during_distress_is_nudged() -> None:
    h = Harness()
    distressed_call(h)
    h.say("customer", "My account number is 1234.", 7000, 9000)
    out = h.say("agent", "Great.", 9200, 9500)
    assert one(out, Prompt, kind="script").evidence["script"] == "stock_reply"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("I know how you feel.", "know_how_you_feel"),
        ("I understand, Mrs. Jones.", "repeated_understand"),
        ("Honestly, I'm angry with them too.", "taking_sides"),
        ("They're useless in that department.", "taking_sides"),
    ],
)
def test_script_lines_are_nudged_with_better_line(text: str, kind: str) -> None:
    h = Harness()
    nudge = one(h.say("agent", text, 1000, 2500), Prompt, kind="script")
    assert nudge.evidence["script"] == kind
    assert nudge.evidence["agent_utterance"] == text
    better = nudge.suggested_phrase
    assert better in PHRASES.script(kind).better  # type: ignore[arg-type]
    det = ScriptLineDetector(repeat_window_ms=60000)
    assert det.on_agent_final(better, t_ms=0, after_complaint=True, distressed=True) == []


def test_repeated_i_understand_is_nudged_on_the_second() -> None:
    h = Harness()
    assert of(h.say("agent", "I understand.", 1000, 1500), Prompt) == []
    nudge = one(h.say("agent", "Yes, I understand.", 20000, 21000), Prompt, kind="script")
    assert nudge.evidence["script"] == "repeated_understand"


def test_i_understand_far_apart_is_fine() -> None:
    h = Harness()
    h.say("agent", "I understand.", 1000, 1500)
    assert of(h.say("agent", "I understand.", 90000, 90500), Prompt) == []


# -- be present -------------------------------------------------------------------------------


def test_talking_over_distressed_customer_raises_be_present() -> None:
    h = Harness()
    distressed_call(h)
    h.vad("customer", True, 7000)
    h.vad("agent", True, 7500)
    assert of(h.tick(8000), Prompt) == []  # 500 ms of overtalk: not yet
    out = h.tick(7500 + h.options.overtalk_min_ms)
    prompt = one(out, Prompt, kind="be_present")
    assert prompt.severity == "warn"
    assert prompt.evidence["trigger"] == "overtalk"
    assert prompt.evidence["interrupted_by"] == "agent"
    assert prompt.evidence["overtalk_ms"] == h.options.overtalk_min_ms
    assert prompt.episode_id == "e1"
    assert of(h.tick(12000), Prompt) == []  # one prompt per overtalk run


def test_overtalk_measured_when_it_ends_between_ticks() -> None:
    h = Harness()
    h.distress(0.7, 500)  # elevated, no episode
    h.vad("customer", True, 1000)
    h.vad("agent", True, 1200)
    out = h.vad("agent", False, 2500)  # 1300 ms of overtalk seen only now
    assert one(out, Prompt, kind="be_present").evidence["overtalk_ms"] == 1300


def test_overtalk_with_calm_customer_is_not_coached() -> None:
    h = Harness()
    h.distress(0.2, 500)
    h.vad("customer", True, 1000)
    h.vad("agent", True, 1200)
    h.tick(5000)
    assert of(h.out, Prompt) == []


def test_short_overtalk_is_not_coached() -> None:
    h = Harness()
    distressed_call(h)
    h.vad("customer", True, 7000)
    h.vad("agent", True, 7500)
    h.vad("agent", False, 7900)
    h.tick(12000)
    assert of(h.out, Prompt, kind="be_present") == []


def test_process_first_raises_be_present() -> None:
    h = Harness()
    distressed_call(h)
    out = h.say("agent", "Okay. Can I have your account number please?", 7000, 9000)
    prompt = one(out, Prompt, kind="be_present")
    assert prompt.evidence["trigger"] == "process_first"
    assert prompt.evidence["process_phrase"] == "Can I have your"
    assert prompt.suggested_phrase == PHRASES.prompt("be_present_process_first").phrase
    # the acknowledgement that follows clears it too
    out = h.say("agent", "Sorry, I can see why that would be really annoying.", 9500, 11000)
    reasons = {c.reason for c in of(out, PromptClear)}
    assert reasons == {"followed"}
    assert len(of(out, PromptClear)) == 2
    check_invariants(h.out, h.options.max_open_prompts)


def test_process_after_acknowledgement_is_fine() -> None:
    h = Harness()
    distressed_call(h)
    h.say("agent", "I'm so sorry to hear that. Can I have your account number?", 7000, 10000)
    h.say("agent", "And let me check your date of birth.", 11000, 13000)
    assert of(h.out, Prompt, kind="be_present") == []


def test_process_without_distress_is_fine() -> None:
    h = Harness()
    h.say("customer", "Hi, I want to change my address.", 1000, 3000)
    assert h.say("agent", "Sure, can I have your account number?", 3500, 5000) == []


# -- return to solving ------------------------------------------------------------------------


def test_calm_after_acknowledgement_returns_to_solving() -> None:
    h = Harness()
    distressed_call(h)
    h.say("agent", "That sounds really frustrating, I'm sorry.", 7000, 9000)
    h.distress(0.3, 11000)
    out = h.episode("e1", 12000, state="end")
    prompt = one(h.out, Prompt, kind="return_to_solving")
    assert prompt.severity == "info"
    assert prompt.episode_id == "e1"
    assert prompt.evidence["calm"] == "level_calm"
    assert of(out, Prompt) == []  # only once
    # going back to process follows it
    out = h.say("agent", "Right, let me check what happened with the bill.", 14000, 16000)
    assert one(out, PromptClear, prompt_id=prompt.prompt_id).reason == "followed"
    assert of(out, Prompt) == []
    check_invariants(h.out, h.options.max_open_prompts)


def test_episode_end_after_acknowledgement_returns_to_solving() -> None:
    h = Harness()
    distressed_call(h)
    h.say("agent", "That sounds really frustrating.", 7000, 9000)
    out = h.episode("e1", 12000, state="end")
    assert one(out, Prompt, kind="return_to_solving").evidence["calm"] == "episode_ended"


def test_acknowledgement_after_calm_returns_to_solving_at_once() -> None:
    h = Harness()
    distressed_call(h)
    h.episode("e1", 9000, state="end")
    out = h.say("agent", "I can see why that's so annoying.", 9500, 11000)
    assert one(out, PromptClear).reason == "followed"
    assert one(out, Prompt, kind="return_to_solving")


def test_no_return_to_solving_without_acknowledgement() -> None:
    h = Harness()
    distressed_call(h)
    h.distress(0.2, 9000)
    h.episode("e1", 10000, state="end")
    assert of(h.out, Prompt, kind="return_to_solving") == []


# -- metrics ----------------------------------------------------------------------------------


def test_metrics_every_interval() -> None:
    h = Harness(metrics_interval_ms=1000)
    h.vad("customer", True, 0)
    h.vad("customer", False, 3000)
    h.vad("agent", True, 3000)
    h.distress(0.6, 3500)
    h.vad("agent", False, 4000)
    for t in range(0, 10001, 250):  # the clock is at 4000 already: early ticks count as 4000
        h.tick(t)
    metrics = of(h.out, CallMetrics)
    assert [m.t_ms for m in metrics] == list(range(4000, 10001, 1000))
    m = metrics[-1]
    assert m.t_ms == 10000
    assert m.agent_talk_ratio == pytest.approx(0.25)
    assert m.silence_ms == 6000
    assert m.distress == pytest.approx(0.6)
    assert m.level == "elevated"


def test_metrics_words_per_minute_and_overtalk() -> None:
    h = Harness()
    h.vad("customer", True, 0)
    h.vad("agent", True, 500)
    h.vad("customer", False, 1000)
    h.say("agent", "one two three four five six seven eight nine ten", 500, 4500, t_ms=4500)
    h.vad("agent", False, 4500)
    m = one(h.tick(5000), CallMetrics)
    assert m.agent_words_per_min == pytest.approx(150.0)
    assert m.overtalk_ms == 500


# -- robustness -------------------------------------------------------------------------------


def test_odd_input_does_not_crash() -> None:
    h = Harness()
    assert h.say("agent", "", 1000, 1000) == []
    assert h.say("customer", "   ", 1000, 900) == []
    bad_channel = TranscriptEvent(
        call_id=CALL,
        t_ms=1500,
        channel="supervisor",  # type: ignore[arg-type]
        utterance_id="x",
        is_final=True,
        text="I know how you feel",
        start_ms=0,
        end_ms=1000,
    )
    assert h.feed(bad_channel) == []
    assert h.vad("robot", True, 1600) == []
    assert h.feed(CallStarted(call_id=CALL, t_ms=0, agent_id="a1", source="file")) == []
    assert h.episode("ghost", 2000, state="end") == []
    assert h.episode("odd", 2100, state="middle") == []
    agent_episode = DistressEpisode(
        call_id=CALL, t_ms=2200, channel="agent", episode_id="a", state="start", peak=1.0, cause=()
    )
    assert h.feed(agent_episode) == []
    h.distress(math.nan, 2300, level="weird")
    h.episode("nan", 2400, peak=math.nan, cause=("",))
    assert h.episode("nan", 2500) == []  # duplicate start
    # time runs backwards: the coach's clock holds
    h.say("agent", "I know how you feel.", 500, 800, t_ms=100)
    h.vad("customer", True, -50)
    h.tick(-1000)
    h.finish(0)
    check_invariants(h.out, h.options.max_open_prompts)
    assert {e.t_ms for e in h.out} == {2400, 2500}  # the coach's clock, never earlier
    assert one(h.out, Prompt, kind="pause_and_acknowledge").evidence["cause_group"] == "default"
    assert one(h.out, Prompt, kind="script").evidence["script"] == "know_how_you_feel"


def test_same_events_same_output() -> None:
    def run() -> list[dict[str, Any]]:
        h = Harness()
        distressed_call(h)
        h.say("agent", "Fantastic! Can I have your account number?", 6500, 8000)
        h.vad("customer", True, 8000)
        h.vad("agent", True, 8100)
        h.tick(9500)
        h.say("agent", "I can see where that would be extremely frustrating.", 10000, 12000)
        h.episode("e1", 15000, state="end")
        h.tick(40000)
        h.finish(41000)
        return [to_wire(e) for e in h.out]

    first = run()
    assert first == run()
    for message in first:  # and they survive the wire format
        assert to_wire(from_wire(json.loads(json.dumps(message)))) == message


_CHANNEL = st.sampled_from(["customer", "agent"])
_T = st.integers(min_value=-1000, max_value=120000)
_TEXT = st.sampled_from(
    [
        "",
        "Fantastic!",
        "I know how you feel",
        "I understand, Mr. Smith",
        "That sounds really frustrating",
        "Can I have your account number?",
        "This is the third time I've called!",
        "They're useless",
        "ok",
    ]
)
_EVENT = st.one_of(
    st.builds(
        lambda ch, text, t, d, final: TranscriptEvent(
            call_id=CALL,
            t_ms=t,
            channel=ch,
            utterance_id="u",
            is_final=final,
            text=text,
            start_ms=t - d,
            end_ms=t,
        ),
        _CHANNEL,
        _TEXT,
        _T,
        st.integers(min_value=-500, max_value=5000),
        st.booleans(),
    ),
    st.builds(
        lambda ch, s, t: VoiceActivity(call_id=CALL, t_ms=t, channel=ch, speaking=s),
        _CHANNEL,
        st.booleans(),
        _T,
    ),
    st.builds(
        lambda score, t: DistressUpdate(
            call_id=CALL,
            t_ms=t,
            channel="customer",
            score=score,
            level="high" if score > 0.75 else "elevated" if score > 0.5 else "calm",
            provisional=False,
            features={},
        ),
        st.floats(allow_nan=True, allow_infinity=True),
        _T,
    ),
    st.builds(
        lambda i, start, t, cause: DistressEpisode(
            call_id=CALL,
            t_ms=t,
            channel="customer",
            episode_id=f"e{i}",
            state="start" if start else "end",
            peak=0.8,
            cause=cause,
        ),
        st.integers(min_value=0, max_value=4),
        st.booleans(),
        _T,
        st.sampled_from([(), ("anger",), ("life_event:bereavement",), ("zzz",)]),
    ),
    st.builds(
        lambda n, action, t: PromptAck(
            call_id=CALL, t_ms=t, prompt_id=f"{CALL}-p{n}", action=action
        ),
        st.integers(min_value=0, max_value=5),
        st.sampled_from(["shown", "dismissed", "followed"]),
        _T,
    ),
    st.builds(lambda t: t, _T),  # a tick
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_EVENT, max_size=40))
def test_any_event_sequence_keeps_the_invariants(events: list[Event | int]) -> None:
    h = Harness(max_open_prompts=2)
    for item in events:
        if isinstance(item, int):
            h.tick(item)
        else:
            h.feed(item)
    out = h.finish(130000)
    check_invariants(h.out, 2)
    final = out[-1]
    assert isinstance(final, EmpathyScore)
    assert final.acknowledged <= final.episodes
    assert all(lat >= 0 for lat in final.ack_latency_ms)
