"""``bench cluster``'s check of the wall board against the store (sans-I/O)."""

from __future__ import annotations

import pytest

from benchmarks.cluster import WallBoard, compare

STORED = {"c1": [("call_started", 0), ("metrics", 1000), ("metrics", 1000), ("call_ended", 9)]}


def board(events: list[tuple[str, int]]) -> WallBoard:
    return WallBoard(events={"c1": events})


def test_the_same_events_in_the_same_order_are_complete() -> None:
    got = compare(board(list(STORED["c1"])), STORED)
    assert got["complete"] and got["stored_events"] == 4
    assert got["missing"] == got["duplicates"] == got["calls_out_of_order"] == 0


def test_missing_duplicated_and_reordered_events_are_counted() -> None:
    missing = compare(board(STORED["c1"][:2] + STORED["c1"][3:]), STORED)
    assert missing["missing"] == 1 and not missing["complete"]
    twice = compare(board(STORED["c1"] + [("call_ended", 9)]), STORED)
    assert twice["duplicates"] == 1 and not twice["complete"]
    swapped = [STORED["c1"][3], *STORED["c1"][:3]]
    assert compare(board(swapped), STORED)["calls_out_of_order"] == 1


def test_a_call_the_wall_board_never_saw_is_all_missing() -> None:
    got = compare(WallBoard(), STORED)
    assert got["missing"] == 4 and not got["complete"]


def test_level_lists_parse_sorted_and_refuse_nonsense() -> None:
    import argparse

    from benchmarks import cluster

    assert cluster._int_list("16,8,12,8") == [8, 12, 16]
    for bad in ("", "8,x", "0,4", "-2"):
        with pytest.raises(argparse.ArgumentTypeError):
            cluster._int_list(bad)
