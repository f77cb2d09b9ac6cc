"""The tokenizer repair: merges missing from a byte-level BPE tokenizer.json."""

from __future__ import annotations

import json
from typing import Any

import pytest
import tokenizers

from voice_assist.asr import bpe

# merge ranks 0-6; "Ġthe" (rank 6) has two splits into lower tokens: "Ġth" + "e" (the
# real one) and "Ġt" + "he"
ALL = ["Ġ t", "Ġ a", "Ġt h", "h e", "Ġa n", "e r", "Ġth e"]


def _byte_level_bpe(merges: list[str]) -> dict[str, Any]:
    """A small GPT-2 style tokenizer: 256 byte tokens, then one token per merge rank."""
    alphabet = sorted(tokenizers.pre_tokenizers.ByteLevel.alphabet())
    assert len(alphabet) == bpe.BYTE_TOKENS
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    for pair in ALL:
        vocab[pair.replace(" ", "")] = len(vocab)
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    data: dict[str, Any] = json.loads(tok.to_str())
    data["model"]["merges"] = merges
    return data


def _ids(data: dict[str, Any] | str, text: str) -> list[int]:
    raw = data if isinstance(data, str) else json.dumps(data)
    return tokenizers.Tokenizer.from_str(raw).encode(text).ids


def test_a_lost_first_merge_is_put_back_at_its_rank() -> None:
    broken = _byte_level_bpe(ALL[1:])  # what the bundled tokenizer.json does: rank 0 gone
    whole = _byte_level_bpe(ALL)
    the = bpe.BYTE_TOKENS + 6  # "Ġthe"
    assert _ids(whole, " the") == [the]
    assert _ids(broken, " the") != [the]  # " the" split as a lone space + "the"

    fixed, restored = bpe.restore_merges(json.dumps(broken))
    assert restored == [("Ġ", "t")]
    assert json.loads(fixed)["model"]["merges"] == ALL
    assert _ids(fixed, " the an her") == _ids(whole, " the an her")


def test_several_lost_merges_with_ambiguous_splits_and_the_last_rank() -> None:
    # rank 2 "Ġt h", and rank 6 "Ġth e", the highest, whose token also splits as
    # "Ġt" + "he": BPE with the lower merges (rank 2 restored first) picks "Ġth" + "e"
    data = _byte_level_bpe([m for i, m in enumerate(ALL) if i not in (2, 6)])
    data["model"]["merges"] = [m.split(" ") for m in data["model"]["merges"]]  # list form
    fixed, restored = bpe.restore_merges(json.dumps(data))
    assert restored == [("Ġt", "h"), ("Ġth", "e")]
    assert json.loads(fixed)["model"]["merges"] == [m.split(" ") for m in ALL]
    assert _ids(fixed, " the other") == _ids(_byte_level_bpe(ALL), " the other")


def _not_byte_level() -> dict[str, Any]:
    data = _byte_level_bpe(ALL[1:])
    data["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁"}
    return data


def _ids_out_of_rank_order() -> dict[str, Any]:
    data = _byte_level_bpe(ALL[1:])
    data["model"]["merges"] = [ALL[2], ALL[1], *ALL[3:]]  # ranks 1 and 2 swapped
    return data


@pytest.mark.parametrize(
    "data",
    [
        _byte_level_bpe(ALL),  # nothing missing
        _not_byte_level(),  # rank = id - 256 holds for byte-level BPE only
        _ids_out_of_rank_order(),
        {"model": {"type": "WordPiece", "vocab": {"a": 0}}},
        {"model": {"type": "BPE", "vocab": {}, "merges": []}},
    ],
)
def test_whole_or_other_tokenizers_come_back_unchanged(data: dict[str, Any]) -> None:
    raw = json.dumps(data)
    assert bpe.restore_merges(raw) == (raw, [])


def test_the_loaded_model_encodes_text_as_whisper_writes_it(whisper_model) -> None:  # type: ignore[no-untyped-def]
    tok = whisper_model.hf_tokenizer
    # Whisper base writes " the" as 264 and " this" as 341 (seen in its own output)
    assert tok.encode(" the", add_special_tokens=False).ids == [264]
    assert tok.encode(" So this is the sick corpus.", add_special_tokens=False).ids == [
        407, 341, 307, 264, 4998, 1181, 31624, 13,
    ]  # fmt: skip
    ids = tok.encode(" They told them to try.", add_special_tokens=False).ids
    assert tok.decode(ids) == " They told them to try."
    assert 220 not in ids  # no lone spaces
