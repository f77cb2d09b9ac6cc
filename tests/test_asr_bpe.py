"""The tokenizer repair: merges missing from a byte-level BPE tokenizer.json."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import tokenizers

from voice_assist.asr import bpe


def _byte_level_bpe(merges: list[str]) -> str:
    """A small GPT-2 style tokenizer: 256 byte tokens, then one token per merge rank."""
    bytes_to_unicode = tokenizers.pre_tokenizers.ByteLevel.alphabet()
    alphabet = sorted(bytes_to_unicode)
    assert len(alphabet) == bpe.BYTE_TOKENS
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    for pair in ["Ġ t", "Ġ a", "h e", "Ġt he", "Ġa n"]:
        a, b = pair.split(" ")
        vocab[a + b] = len(vocab)
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    data: dict[str, Any] = json.loads(tok.to_str())
    data["model"]["merges"] = merges
    return json.dumps(data)


ALL = ["Ġ t", "Ġ a", "h e", "Ġt he", "Ġa n"]


def _ids(tokenizer_json: str, text: str) -> list[int]:
    return tokenizers.Tokenizer.from_str(tokenizer_json).encode(text).ids


def test_a_lost_first_merge_is_put_back_at_its_rank() -> None:
    broken = _byte_level_bpe(ALL[1:])  # what the bundled tokenizer.json does: rank 0 gone
    whole = _byte_level_bpe(ALL)
    the = bpe.BYTE_TOKENS + 3  # "Ġthe", made by rank 3
    assert _ids(whole, " the") == [the]
    assert _ids(broken, " the") != [the]  # " the" split as space + "the"

    fixed, restored = bpe.restore_merges(broken)
    assert restored == [("Ġ", "t")]
    assert json.loads(fixed)["model"]["merges"] == ALL
    assert _ids(fixed, " the an") == _ids(whole, " the an")


def test_a_lost_middle_merge_and_list_pairs_are_handled() -> None:
    data = json.loads(_byte_level_bpe([]))
    data["model"]["merges"] = [p.split(" ") for p in ALL if p != "h e"]
    fixed, restored = bpe.restore_merges(json.dumps(data))
    assert restored == [("h", "e")]
    assert json.loads(fixed)["model"]["merges"] == [p.split(" ") for p in ALL]


@pytest.mark.parametrize(
    "tokenizer_json",
    [
        _byte_level_bpe(ALL),  # nothing missing
        json.dumps({"model": {"type": "WordPiece", "vocab": {"a": 0}}}),
        json.dumps({"model": {"type": "BPE", "vocab": {}, "merges": []}}),
    ],
)
def test_whole_or_other_tokenizers_come_back_unchanged(tokenizer_json: str) -> None:
    assert bpe.restore_merges(tokenizer_json) == (tokenizer_json, [])


def test_the_loaded_model_encodes_text_as_whisper_writes_it(whisper_model) -> None:  # type: ignore[no-untyped-def]
    tok = whisper_model.hf_tokenizer
    # Whisper base writes " the" as 264 and " this" as 341 (seen in its own output)
    assert tok.encode(" the", add_special_tokens=False).ids == [264]
    assert tok.encode(" So this is the sick corpus.", add_special_tokens=False).ids == [
        407, 341, 307, 264, 4998, 1181, 31624, 13,
    ]  # fmt: skip
    ids = np.array(tok.encode(" They told them to try.", add_special_tokens=False).ids)
    assert tok.decode(ids.tolist()) == " They told them to try."
    assert 220 not in ids  # no lone spaces
