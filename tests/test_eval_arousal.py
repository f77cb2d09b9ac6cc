"""``voice-assist eval arousal``: metrics, telephone band, the command on a synthetic folder,
and (when ../shared is there) the development data."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voice_assist.commands import eval as eval_cmd
from voice_assist.distress.evaluation import auc, emotion_of, telephone_band, uar
from voice_assist.prosody.synth import AGITATED, CALM, VoiceStyle, synth_voice

EMODB_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb-dev"


def run_eval(folder: Path, *extra: str) -> tuple[int, dict]:
    parser = argparse.ArgumentParser()
    eval_cmd.add_arguments(parser)
    args = parser.parse_args(["arousal", str(folder), "--json", *extra])
    args.config = None
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = eval_cmd.run(args)
    return rc, json.loads(buf.getvalue())


def test_auc_and_uar() -> None:
    assert auc([True, True, False, False], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert auc([True, True, False, False], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert auc([True, False], [0.5, 0.5]) == 0.5  # ties count half
    assert auc([True, True, False], [0.3, 0.7, 0.5]) == 0.5
    assert math.isnan(auc([True, True], [0.1, 0.2]))
    assert uar([True, True, False, False], [True, False, False, False]) == pytest.approx(0.75)
    assert uar([True, True, True, False], [True, True, True, True]) == pytest.approx(0.5)


def test_emotion_letter_is_the_sixth_character() -> None:
    assert emotion_of("03a01Wa.wav") == "W"
    assert emotion_of("/x/y/16b10Td.wav") == "T"
    assert emotion_of("abc.wav") is None


def test_telephone_band_removes_the_upper_band() -> None:
    sr = 22050
    t = np.arange(sr) / sr
    x = (0.3 * np.sin(2 * np.pi * 500 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)
    y = telephone_band(x, sr)
    assert abs(y.size - 16000) <= 2
    spec = np.abs(np.fft.rfft(y[1000:15000]))
    freqs = np.fft.rfftfreq(14000, 1 / 16000)
    assert spec[freqs > 4500].max() < 0.01 * spec[np.argmin(np.abs(freqs - 500))]


def _write_folder(folder: Path) -> None:
    """Two synthetic 'speakers', Emo-DB names; W/F/A agitated, N/L/T calm, one E, one junk."""
    for s, shift in (("21", 1.0), ("22", 1.6)):
        for k, emo in enumerate("WFANLTWFANLTE"):
            base = AGITATED if emo in "WFAE" else CALM
            style = VoiceStyle(
                f0_hz=base.f0_hz * shift,
                f0_range_st=base.f0_range_st,
                level_dbfs=base.level_dbfs,
                tilt=base.tilt,
                syllables_per_s=base.syllables_per_s,
            )
            y = synth_voice(2.0, style=style, sample_rate_hz=22050, seed=k)
            sf.write(folder / f"{s}a{k:02d}{emo}a.wav", y, 22050)
    (folder / "README.md").write_text("not audio")


def test_eval_command_on_a_synthetic_folder(tmp_path: Path) -> None:
    _write_folder(tmp_path)
    rc, out = run_eval(tmp_path)
    assert rc == 0
    assert set(out) == {"n", "auc", "uar"}
    assert out["n"] == 24  # the E clips are left out
    assert out["auc"] == pytest.approx(1.0)
    assert out["uar"] >= 0.9
    rc, tel = run_eval(tmp_path, "--telephone", "--per-speaker")
    assert rc == 0 and tel["auc"] >= 0.95
    assert set(tel["per_speaker"]) == {"21", "22"}


def test_eval_command_refuses_a_missing_or_empty_folder(tmp_path: Path) -> None:
    from voice_assist.errors import AudioError

    with pytest.raises(AudioError):
        run_eval(tmp_path / "nope")
    with pytest.raises(AudioError):
        run_eval(tmp_path)


@pytest.mark.skipif(
    not EMODB_DEV.is_dir(), reason="needs ../shared/data/emodb-dev (not in a fresh clone)"
)
def test_development_data_in_sample() -> None:
    """The shipped weights were trained on these speakers: an in-sample sanity check only
    (the held-out estimate is the leave-one-speaker-out figure of the benchmark)."""
    rc, out = run_eval(EMODB_DEV)
    assert rc == 0 and out["n"] == 231
    assert out["auc"] >= 0.96 and out["uar"] >= 0.88
    rc, tel = run_eval(EMODB_DEV, "--telephone")
    assert tel["auc"] >= 0.93
