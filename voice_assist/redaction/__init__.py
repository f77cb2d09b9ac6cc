"""PCI/PII redaction of transcripts and archived audio, before anything is stored or sent.

Modules, from words to the call:

* :mod:`.numbers`: spoken and written numbers -> runs of digits;
* :mod:`.context`: keywords ("card number", "sort code") and the call's memory of them;
* :mod:`.emails`: written and spoken email addresses;
* :mod:`.detect`: the category rules -> :class:`~.spans.Span` records;
* :mod:`.redact`: spans applied to words and text (``[CARD]`` with the word times);
* :mod:`.redactor`: one call's transcripts, with the per-leg carry-over of numbers read
  in pieces;
* :mod:`.audio`: one call's archive audio, held back until its words are known and
  muted over redacted words;
* :mod:`.stage`: the two wired into a call's stages.

All synchronous and free of I/O; see docs/design.md, "Redaction".
"""

from voice_assist.redaction.detect import Detection, detect, luhn_check_digit, luhn_valid
from voice_assist.redaction.redactor import CallRedactor, Redacted
from voice_assist.redaction.spans import PLACEHOLDERS, AudioSpan, Category, Span

__all__ = [
    "PLACEHOLDERS",
    "AudioSpan",
    "CallRedactor",
    "Category",
    "Detection",
    "Redacted",
    "Span",
    "detect",
    "luhn_check_digit",
    "luhn_valid",
]
