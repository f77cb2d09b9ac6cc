"""CallerBaseline: robust calm location, readiness, slow update."""

from __future__ import annotations

import numpy as np
import pytest

from voice_assist.distress.baseline import CallerBaseline


def make(**kw: float) -> CallerBaseline:
    args: dict = dict(
        n_features=2,
        quantile=0.25,
        scales=np.array([1.0, 1.0]),
        min_ms=1000,
        max_ms=2000,
        provisional_ms=500,
        time_constant_ms=10000,
    )
    args.update(kw)
    return CallerBaseline(**args)


def test_location_is_the_low_quantile_and_robust_to_outliers() -> None:
    rng = np.random.default_rng(0)
    u = rng.normal([10.0, -5.0], 1.0, size=(400, 2))
    u[:20] = 1000.0  # 5 % wild windows
    b = CallerBaseline.fit(u, quantile=0.25, scales=np.ones(2))
    assert b.ready
    assert b.location() == pytest.approx([10.0 - 0.674 + 0.05, -5.0 - 0.674 + 0.05], abs=0.2)
    med = CallerBaseline.fit(u, quantile=0.5, scales=np.ones(2)).location()
    assert med == pytest.approx([10.05, -4.95], abs=0.2)


def test_readiness_and_provisional_availability() -> None:
    b = make()
    assert not b.available and not b.ready
    b.add(np.array([1.0, 2.0]), 250)
    b.add(np.array([1.0, 2.0]), 250)
    assert b.available and not b.ready
    b.add(np.array([1.0, 2.0]), 250)
    b.add(np.array([1.0, 2.0]), 250)
    assert b.ready and b.voiced_ms == 1000


def test_missing_values_are_ignored() -> None:
    b = make()
    for v in ([np.nan, 1.0], [np.nan, 2.0], [np.nan, 3.0]):
        b.add(np.array(v), 250)
    loc = b.location()
    assert np.isnan(loc[0]) and loc[1] == pytest.approx(1.5)


def test_slow_update_moves_towards_the_new_quantile_slowly() -> None:
    b = make()
    for _ in range(8):  # 2000 ms: the initial estimate is complete
        b.add(np.array([0.0, 0.0]), 250)
    assert b.location() == pytest.approx([0.0, 0.0])
    for _ in range(4):  # one second of a new level barely moves it
        b.add(np.array([5.0, 5.0]), 250)
    assert 0.0 < b.location()[0] < 0.5
    rng = np.random.default_rng(1)
    for _ in range(2000):  # minutes later it has followed
        b.add(rng.normal(5.0, 1.0, size=2), 250)
    assert b.location() == pytest.approx([5.0 - 0.674, 5.0 - 0.674], abs=0.4)


def test_bad_quantile_is_refused() -> None:
    with pytest.raises(ValueError):
        make(quantile=0.9)
