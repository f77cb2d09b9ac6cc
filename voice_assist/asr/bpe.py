"""Repair of a byte-level BPE tokenizer that lost merges.

Whisper's tokenizer is GPT-2's byte-level BPE: ids 0-255 are the bytes, and each later
id up to the merge count is the token made by the merge of that rank (id 256 by rank 0,
and so on).  The bundled ``tokenizer.json`` lacks the rank-0 merge ``Ġ t`` (49,999
merges for 50,000 merged tokens; the first line of a merges file is easily taken for a
header).  Decoding is unaffected, since it looks ids up, but *encoding* then splits every
word that starts with " t" into a lone space and the rest: " the" became ``Ġ`` +
``the`` (220, 3322), never what the model writes (264).  Text the transcriber encodes
(a final's forced prefix, the conversation prompt) then reads to Whisper as odd
spacing.  :func:`restore_merges` puts such merges back at their rank.
"""

from __future__ import annotations

import json
from typing import Any

BYTE_TOKENS = 256


def _pair(entry: Any) -> tuple[str, str]:
    if isinstance(entry, str):
        a, b = entry.split(" ", 1)
        return a, b
    return entry[0], entry[1]


def missing_merges(model: dict[str, Any]) -> list[tuple[int, tuple[str, str]]]:
    """(rank, pair) of each merged token in ``vocab`` that no merge produces.

    A merged token's rank is its id less the 256 byte tokens.  Its pair is the split
    into two vocabulary tokens whose own ids are lower (made earlier).
    """
    vocab: dict[str, int] = model["vocab"]
    merges = model["merges"]
    produced = {a + b for a, b in map(_pair, merges)}
    by_id = {i: t for t, i in vocab.items()}
    out = []
    for token_id in range(BYTE_TOKENS, BYTE_TOKENS + len(merges) + 1):
        token = by_id.get(token_id)
        if token is None or token in produced:
            continue
        for k in range(1, len(token)):
            a, b = token[:k], token[k:]
            if vocab.get(a, token_id) < token_id and vocab.get(b, token_id) < token_id:
                out.append((token_id - BYTE_TOKENS, (a, b)))
                break
    return out


def restore_merges(tokenizer_json: str) -> tuple[str, list[tuple[str, str]]]:
    """The tokenizer JSON with its missing merges back in place, and the merges restored.

    Anything but a byte-level BPE model, or one with nothing missing, comes back as is.
    """
    data = json.loads(tokenizer_json)
    model = data.get("model") or {}
    if model.get("type") != "BPE" or not model.get("merges") or not model.get("vocab"):
        return tokenizer_json, []
    missing = missing_merges(model)
    if not missing:
        return tokenizer_json, []
    as_string = isinstance(model["merges"][0], str)
    for rank, (a, b) in missing:  # ascending ranks: each insert lands at its own rank
        model["merges"].insert(rank, f"{a} {b}" if as_string else [a, b])
    return json.dumps(data, ensure_ascii=False), [pair for _, pair in missing]
