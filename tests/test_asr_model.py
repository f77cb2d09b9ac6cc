from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from voice_assist.asr import model as provisioning
from voice_assist.config import load_settings
from voice_assist.errors import ModelError


def settings_in(tmp_path: Path, **model: object):  # type: ignore[no-untyped-def]
    return load_settings(env={}, overrides={"model": {"models_dir": str(tmp_path), **model}})


def test_bundled_model_is_assembled_and_verified(tmp_path: Path) -> None:
    s = settings_in(tmp_path)
    path = provisioning.ensure_model(s)
    assert Path(path) == tmp_path / "whisper-base"
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        assert (tmp_path / "whisper-base" / name).is_file()
    status = provisioning.model_status(s)
    assert status.verified and status.sha256 == provisioning.BUNDLED_SHA256
    assert not list(tmp_path.glob(".assemble-*"))  # no staging left behind


def test_corrupt_model_is_one_clear_error_naming_the_fix(tmp_path: Path) -> None:
    s = settings_in(tmp_path)
    provisioning.ensure_model(s)
    with (tmp_path / "whisper-base" / "model.bin").open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00corrupt\x00")
    with pytest.raises(ModelError, match="corrupt.*voice-assist models"):
        provisioning.ensure_model(s)
    assert not provisioning.model_status(s).verified


def test_hub_names_need_explicit_permission_to_download(tmp_path: Path) -> None:
    s = settings_in(tmp_path, name="Systran/faster-whisper-small")
    with pytest.raises(ModelError, match="allow_download"):
        provisioning.ensure_model(s)


def test_local_directory_without_model_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    s = settings_in(tmp_path, name=str(tmp_path / "mine"))
    with pytest.raises(ModelError, match="model.bin"):
        provisioning.ensure_model(s)


def test_gpu_profile_layers_over_the_defaults() -> None:
    from voice_assist.config import DEFAULT_CONFIG_PATH

    defaults = load_settings(env={})
    s = load_settings(DEFAULT_CONFIG_PATH.with_name("gpu.toml"), env={})
    assert s.model == replace(defaults.model, device="cuda", compute_type="float16", workers=4)
    assert s.asr == replace(defaults.asr, final_beam_size=5, final_min_window_ms=30000)
    assert s.server == defaults.server and s.distress == defaults.distress
