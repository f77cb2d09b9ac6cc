"""The shipped scoring model, its file format, and the training code (on synthetic data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from voice_assist.config import load_settings
from voice_assist.distress.estimator import resolve_path
from voice_assist.distress.evaluation import WINDOW_FEATURES, Clip
from voice_assist.distress.scoring import load_model, model_from_dict, model_to_dict, sigmoid
from voice_assist.distress.training import FEATURES, fit_logistic, fit_model, leave_one_speaker_out
from voice_assist.errors import ConfigError
from voice_assist.prosody.features import FEATURE_NAMES


@pytest.fixture(scope="module")
def model_path() -> str:
    return resolve_path(load_settings(env={}).distress.model_path)


def test_shipped_model_is_sane(model_path: str) -> None:
    m = load_model(model_path)
    assert set(m.names) <= set(FEATURE_NAMES)
    assert all(f.weight >= 0 and f.scale > 0 for f in m.features)
    assert sum(f.weight for f in m.features) > 1.0
    assert sigmoid(m.intercept) < 0.1  # the calm reference is calm
    assert 0 < m.quantile <= 0.5
    assert m.loudness.cause == "prosody:loud" and m.speaking_rate.cause == "prosody:fast"
    assert "emodb-dev" in str(m.meta.get("trained_on", ""))
    assert "loso_trained_wideband" in m.meta


def test_round_trip_and_malformed_files(model_path: str, tmp_path: Path) -> None:
    data = json.loads(Path(model_path).read_text())
    m = model_from_dict(data)
    assert model_from_dict(model_to_dict(m)).features == m.features
    with pytest.raises(ConfigError):
        load_model(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError):
        load_model(bad)
    broken = dict(data, quantile=0.9)
    bad.write_text(json.dumps(broken))
    with pytest.raises(ConfigError):
        load_model(bad)
    broken = dict(data)
    broken["features"] = [dict(data["features"][0], direction=0.5)]
    bad.write_text(json.dumps(broken))
    with pytest.raises(ConfigError):
        load_model(bad)


def test_fit_logistic_keeps_weights_non_negative() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(600) < 0.5
    x = rng.standard_normal((600, 3))
    x[:, 0] += 2.0 * y  # informative, positive
    x[:, 2] -= 2.0 * y  # informative but the wrong way: clamped to 0
    w, b = fit_logistic(x, y.astype(float))
    assert w[0] > 1.0 and w[1] < 0.3 and w[2] == 0.0
    assert abs(b + w[0]) < 1.0  # boundary near the middle of the two classes


def _synthetic_clips(seed: int = 0) -> list[Clip]:
    """Four speakers with their own voice; high arousal = higher pitch, flatter tilt."""
    rng = np.random.default_rng(seed)
    names = list(WINDOW_FEATURES)
    clips = []
    for s in range(4):
        base = {n: rng.normal(0, 3) for n in names}
        base["f0_st"] = rng.normal(18, 5)
        for k, emo in enumerate("NNNLTWWFAANLTW" * 2):
            high = emo in "WFA"
            rows = []
            for _ in range(5):
                r = {n: base[n] + rng.normal(0, 1) for n in names}
                r["f0_st"] += 5.0 * high + rng.normal(0, 1.5)
                r["hammarberg_db"] -= 4.0 * high
                r["mfcc1"] -= 2.0 * high
                rows.append([r[n] for n in names])
            clips.append(
                Clip(
                    name=f"{s:02d}a{k:02d}{emo}a.wav",
                    speaker=f"{s:02d}",
                    emotion=emo,
                    windows=np.array(rows),
                    feature_names=tuple(names),
                )
            )
    return clips


def test_training_and_leave_one_speaker_out_on_synthetic_speakers() -> None:
    clips = _synthetic_clips()
    model = fit_model(clips, meta={"trained_on": "synthetic"})
    assert [f.name for f in model.features] == [f[0] for f in FEATURES]
    w = {f.name: f.weight for f in model.features}
    assert w["f0_st"] > 0.5 and w["hammarberg_db"] > 0.2
    res = leave_one_speaker_out(clips, threshold=0.5)
    assert res.n == len(clips)
    assert res.auc > 0.95 and res.uar > 0.85
    assert set(res.per_speaker) == {"00", "01", "02", "03"}
