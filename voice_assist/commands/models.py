"""``voice-assist models``: show the installed Whisper model and verify it."""

from __future__ import annotations

import argparse
import dataclasses
import json

HELP = "show the installed Whisper model and verify its checksum (assembles it on first use)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--load", action="store_true", help="also load the model once to prove it works")


def run(args: argparse.Namespace) -> int:
    from voice_assist.asr.model import load_model, model_status, resolve_device
    from voice_assist.config import load_settings

    settings = load_settings(args.config)
    status = model_status(settings)
    info = dataclasses.asdict(status)
    device, compute = resolve_device(settings.model)
    info.update(device=device, compute_type=compute, language=settings.asr.language)
    if args.load and status.installed:
        load_model(settings)
        info["loaded"] = True
    if args.json:
        print(json.dumps(info))
    else:
        mark = "ok" if status.verified else "NOT VERIFIED"
        print(f"model     {status.name}  [{mark}]")
        print(f"path      {status.path}")
        print(f"sha256    {status.sha256 or '-'}")
        print(f"device    {device} ({compute}), language {settings.asr.language}")
        print(f"status    {status.detail}")
    return 0 if status.installed and (status.verified or status.sha256 is None) else 1
