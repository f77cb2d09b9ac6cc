"""The distress scoring model: baseline-relative z-scores -> a logit -> a score in [0, 1].

The model file (``voice_assist/data/distress_weights.json``, written by
``scripts/train_distress.py``) has two parts:

``features``
    trained on development speakers: for each prosody feature its arousal ``direction``
    (+1: up when upset), its ``scale`` (spread of calm speech within a speaker) and its
    ``weight`` in a logistic model, plus ``intercept``, ``z_clip`` and the baseline
    ``quantile`` the weights were trained with.
``extras``
    hand-set evidence that the development data cannot teach: loudness (the development
    clips are peak-normalised one by one, so their level says nothing) and the speaking
    rate from transcript word timings.  Each counts only above ``offset_z``:
    ``weight * max(0, z - offset_z)``.

A window's z-score of feature ``i`` is ``(direction_i * x_i - location_i) / scale_i``
where ``location_i`` is the caller's baseline; positive means "more aroused than this
caller's calm voice".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice_assist.errors import ConfigError


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One model input: prosody feature ``name`` reported as ``key`` (e.g. ``pitch_z``)."""

    name: str
    key: str
    direction: float
    scale: float
    weight: float
    cause: str


@dataclass(frozen=True, slots=True)
class ExtraSpec:
    """Hand-set one-sided evidence: ``weight * max(0, z - offset_z)``."""

    key: str
    scale: float
    weight: float
    offset_z: float
    cause: str

    def logit(self, z: float) -> float:
        if not math.isfinite(z):
            return 0.0
        return self.weight * max(0.0, z - self.offset_z)


@dataclass(frozen=True, slots=True)
class DistressModel:
    features: tuple[FeatureSpec, ...]
    intercept: float
    z_clip: float
    quantile: float
    loudness: ExtraSpec
    """Applied to the prosody feature ``rms_dbfs`` against the caller's baseline."""
    speaking_rate: ExtraSpec
    """Applied to words per second from the customer's final transcripts."""
    meta: Mapping[str, object]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def directions(self) -> np.ndarray:
        return np.array([f.direction for f in self.features], dtype=np.float64)

    @property
    def scales(self) -> np.ndarray:
        return np.array([f.scale for f in self.features], dtype=np.float64)

    @property
    def weights(self) -> np.ndarray:
        return np.array([f.weight for f in self.features], dtype=np.float64)

    def z_scores(self, u: np.ndarray, location: np.ndarray) -> np.ndarray:
        """Clipped z-scores; missing values (NaN) give 0 (no evidence)."""
        z = (np.asarray(u, dtype=np.float64) - location) / self.scales
        z = np.where(np.isfinite(z), z, 0.0)
        return np.clip(z, -self.z_clip, self.z_clip)

    def logit(self, z: np.ndarray) -> float:
        """Prosody logit of one window from its clipped z-scores (trained part only)."""
        return float(self.intercept + np.dot(self.weights, z))

    def contributions(self, z: np.ndarray) -> dict[str, float]:
        """Per-feature logit contributions ``weight * z``, keyed by feature name."""
        return {f.name: float(f.weight * zi) for f, zi in zip(self.features, z, strict=True)}


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def load_model(path: str | Path) -> DistressModel:
    """Read a model file written by ``scripts/train_distress.py``.

    Raises
    ------
    ConfigError
        Missing or malformed file.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"distress model not found: {p}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"distress model {p} is not valid JSON: {exc}") from exc
    try:
        return model_from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"distress model {p} is malformed: {exc!r}") from exc


def model_from_dict(data: Mapping[str, object]) -> DistressModel:
    feats = data["features"]
    extras = data["extras"]
    if not isinstance(feats, list) or not isinstance(extras, dict) or not feats:
        raise ValueError("features must be a non-empty list and extras a table")
    specs = tuple(
        FeatureSpec(
            name=str(f["name"]),
            key=str(f["key"]),
            direction=float(f["direction"]),
            scale=float(f["scale"]),
            weight=float(f["weight"]),
            cause=str(f["cause"]),
        )
        for f in feats
    )
    for s in specs:
        if s.scale <= 0 or s.direction not in (-1.0, 1.0):
            raise ValueError(f"feature {s.name}: scale must be > 0 and direction +-1")

    def extra(name: str) -> ExtraSpec:
        e = extras[name]
        spec = ExtraSpec(
            key=str(e["key"]),
            scale=float(e["scale"]),
            weight=float(e["weight"]),
            offset_z=float(e["offset_z"]),
            cause=str(e["cause"]),
        )
        if spec.scale <= 0:
            raise ValueError(f"extra {name}: scale must be > 0")
        return spec

    quantile = float(data["quantile"])  # type: ignore[arg-type]
    if not 0.0 < quantile <= 0.5:
        raise ValueError("quantile must be in (0, 0.5]")
    meta = data.get("meta", {})
    return DistressModel(
        features=specs,
        intercept=float(data["intercept"]),  # type: ignore[arg-type]
        z_clip=float(data["z_clip"]),  # type: ignore[arg-type]
        quantile=quantile,
        loudness=extra("loudness"),
        speaking_rate=extra("speaking_rate"),
        meta=meta if isinstance(meta, Mapping) else {},
    )


def model_to_dict(model: DistressModel) -> dict[str, object]:
    def extra(e: ExtraSpec) -> dict[str, object]:
        return {
            "key": e.key,
            "scale": e.scale,
            "weight": e.weight,
            "offset_z": e.offset_z,
            "cause": e.cause,
        }

    return {
        "features": [
            {
                "name": f.name,
                "key": f.key,
                "direction": f.direction,
                "scale": round(f.scale, 6),
                "weight": round(f.weight, 6),
                "cause": f.cause,
            }
            for f in model.features
        ],
        "intercept": round(model.intercept, 6),
        "z_clip": model.z_clip,
        "quantile": model.quantile,
        "extras": {"loudness": extra(model.loudness), "speaking_rate": extra(model.speaking_rate)},
        "meta": dict(model.meta),
    }
