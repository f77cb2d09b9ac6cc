"""Coaching policy: prompt policy, phrase library, script-line detection, empathy test.

Synchronous and I/O-free: :class:`Coach` is fed events and returns events.

- :mod:`.coach`            the policy (``Coach``)
- :mod:`.phrases`          what the prompts say (``load_phrases`` -> ``PhraseLibrary``)
- :mod:`.acknowledgement`  did the agent acknowledge the customer's feeling?
- :mod:`.script_lines`     robotic script lines ("I know how you feel", ...)
- :mod:`.process_talk`     the agent going straight to account details
- :mod:`.turns`            who speaks, overtalk, silence, talk ratio, words per minute
- :mod:`.empathy`          the empathy test: episodes, acknowledged, latency
- :mod:`.prompt_book`      prompt ids, TTL, rate limit, cap on open prompts
"""

from __future__ import annotations

from voice_assist.coach.acknowledgement import Acknowledgement, find_acknowledgement
from voice_assist.coach.coach import Coach
from voice_assist.coach.phrases import DEFAULT_PHRASES_PATH, PhraseLibrary, load_phrases
from voice_assist.coach.script_lines import ScriptLine, ScriptLineDetector

__all__ = [
    "DEFAULT_PHRASES_PATH",
    "Acknowledgement",
    "Coach",
    "PhraseLibrary",
    "ScriptLine",
    "ScriptLineDetector",
    "find_acknowledgement",
    "load_phrases",
]
