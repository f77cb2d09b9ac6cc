"""Repair of a byte-level BPE tokenizer that lost merges.

Whisper's tokenizer is GPT-2's byte-level BPE: ids 0-255 are the bytes, and each later
id is the token made by the merge of the next rank (id 256 by rank 0, and so on).  The
bundled ``tokenizer.json`` lacks the rank-0 merge ``Ġ t`` (49,999 merges for 50,000
merged tokens; the first line of a merges file is easily taken for a header).  Decoding
is unaffected, since it looks ids up, but *encoding* then splits every word that starts
with " t" into a lone space and the rest: " the" became ``Ġ`` + ``the`` (220, 3322),
never what the model writes (264).  The transcriber encodes text for Whisper only for
the conversation prompt (``asr.context_max_words``, off by default), so with the
defaults the transcripts do not change; a prompt read as odd spacing before.
:func:`restore_merges` puts such merges back at their rank.
"""

from __future__ import annotations

import json
import math
from typing import Any

BYTE_TOKENS = 256


def _pair(entry: Any) -> tuple[str, str]:
    if isinstance(entry, str):
        a, b = entry.split(" ", 1)
        return a, b
    return entry[0], entry[1]


def _has_byte_level_pre_tokenizer(pre: Any) -> bool:
    if not isinstance(pre, dict):
        return False
    if pre.get("type") == "ByteLevel":
        return True
    return any(_has_byte_level_pre_tokenizer(p) for p in pre.get("pretokenizers") or [])


def _merge_parts(token: str, ranks: dict[tuple[str, str], int], below: int) -> list[str]:
    """BPE of ``token``'s characters with the merges ranked below ``below``."""
    parts = list(token)
    while len(parts) > 1:
        rank, i = min(
            (ranks.get((parts[k], parts[k + 1]), math.inf), k) for k in range(len(parts) - 1)
        )
        if rank >= below:
            break
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    return parts


def missing_merges(data: dict[str, Any]) -> list[tuple[int, tuple[str, str]]]:
    """(rank, pair) of each merged token of a byte-level BPE vocabulary no merge makes.

    A merged token's rank is its id less the 256 byte tokens; its pair is what BPE with
    the merges of lower rank makes of its characters, which must be exactly two tokens.
    Anything else (not byte-level, ids not in merge order) has nothing to restore: []
    """
    model = data.get("model") or {}
    vocab: dict[str, int] = model.get("vocab") or {}
    merges = model.get("merges") or []
    if model.get("type") != "BPE" or not merges or not vocab:
        return []
    if not _has_byte_level_pre_tokenizer(data.get("pre_tokenizer")):
        return []
    by_id = {i: t for t, i in vocab.items()}
    if any(len(by_id.get(i, "")) != 1 for i in range(BYTE_TOKENS)):
        return []
    pairs = [_pair(m) for m in merges]
    made = [vocab.get(a + b, -1) for a, b in pairs]
    if any(x <= prev for prev, x in zip([BYTE_TOKENS - 1, *made], made, strict=False)):
        return []  # merged tokens' ids do not follow the merge ranks
    produced = {a + b for a, b in pairs}
    special = {t["id"] for t in data.get("added_tokens") or []}
    ranks = {pair: vocab[pair[0] + pair[1]] - BYTE_TOKENS for pair in pairs}
    out = []
    for token_id in sorted(i for i in by_id if i >= BYTE_TOKENS and i not in special):
        token = by_id[token_id]
        if token in produced:
            continue
        rank = token_id - BYTE_TOKENS
        parts = _merge_parts(token, ranks, rank)
        if len(parts) != 2:
            continue  # no unambiguous pair: leave it
        a, b = parts
        out.append((rank, (a, b)))
        ranks[(a, b)] = rank  # a later missing merge may be built on this one
    return out


def restore_merges(tokenizer_json: str) -> tuple[str, list[tuple[str, str]]]:
    """The tokenizer JSON with its missing merges back at their ranks, and those merges.

    Anything but a byte-level BPE tokenizer, or one with nothing missing, comes back as is.
    """
    data = json.loads(tokenizer_json)
    missing = missing_merges(data)
    if not missing:
        return tokenizer_json, []
    merges = data["model"]["merges"]
    as_string = isinstance(merges[0], str)
    for rank, (a, b) in missing:  # ascending ranks: each insert lands at its own rank
        merges.insert(rank, f"{a} {b}" if as_string else [a, b])
    return json.dumps(data, ensure_ascii=False), [pair for _, pair in missing]
