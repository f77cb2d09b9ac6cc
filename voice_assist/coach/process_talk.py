"""Process talk: the agent going straight to account details, checks and verification.

Jumping to process before acknowledging a distressed customer is the cue for a
``be_present`` prompt; after an acknowledgement, the same words mean the agent has gone
back to solving.
"""

from __future__ import annotations

import re

from voice_assist.coach.textnorm import normalize

_PROCESS = re.compile(
    r"\b(?:can|could|may|might) i (?:just )?(?:have|get|take|grab|ask for|confirm) your\b"
    r"|\bi(?:'ll| will)? (?:just )?need (?:to get |to take |to have )?your\b"
    r"|\blet me (?:just |quickly )?(?:check|look|pull|see|get|verify|confirm|take|bring|find"
    r"|search|run)\b"
    r"|\bverif(?:y|ication|ied)\b|\bsecurity (?:check|question|questions)\b"
    r"|\b(?:account|reference|order|policy|customer|membership|ticket|case|card|booking"
    r"|phone|mobile|serial|tracking|invoice) number\b"
    r"|\bdate of birth\b|\bpost ?code\b|\bzip ?code\b|\blast (?:four|4) digits\b"
    r"|\bfirst line of (?:your |the )?address\b|\bmother's maiden name\b|\bpassword\b"
    r"|\b(?:what's|what is) your (?:name|full name|email|address|phone|number|account)\b"
    r"|\bspell (?:that|your|out)\b|\bconfirm your (?:name|address|email|details|identity)\b"
    r"|\bpull up your (?:account|details|record|file)\b|\bbefore i can\b"
    r"|\bput you on hold\b|\bbear with me while i\b"
)


def find_process_talk(text: str) -> str | None:
    """The process phrase in an agent utterance ("can I have your ..."), or ``None``."""
    m = _PROCESS.search(normalize(text))
    return text[m.start() : m.end()] if m else None
