"""``voice-assist listen``: coach a live microphone (the customer leg) in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

HELP = "transcribe and score the microphone live (as the customer leg); Ctrl-C to stop"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print events as JSON Lines on stdout")
    p.add_argument("--device", default=None, help="input device name or index (see --list-devices)")
    p.add_argument("--list-devices", action="store_true", help="list input devices and exit")
    p.add_argument(
        "--channel", choices=["customer", "agent"], default="customer", help="leg the microphone is"
    )


def run(args: argparse.Namespace) -> int:
    if args.list_devices:
        from voice_assist.audio.mic import import_sounddevice

        print(import_sounddevice().query_devices())
        return 0
    try:
        return asyncio.run(_listen(args))
    except KeyboardInterrupt:
        return 0


async def _listen(args: argparse.Namespace) -> int:
    from voice_assist import events as ev
    from voice_assist.audio.mic import import_sounddevice, microphone_chunks
    from voice_assist.config import load_settings
    from voice_assist.runtime.engine import Engine
    from voice_assist.wire import to_wire

    import_sounddevice()  # fail fast with the install hint, before loading the model
    settings = load_settings(args.config)
    engine = await Engine.start(settings)

    def sink(event: ev.Event) -> None:
        if args.json:
            if not isinstance(event, ev.ProsodyFrame | ev.VoiceActivity):
                print(json.dumps(to_wire(event)), flush=True)
        elif isinstance(event, ev.TranscriptEvent):
            mark = "" if event.is_final else "…"
            print(f"{event.channel}: {event.text}{mark}", file=sys.stdout, flush=True)
        elif isinstance(event, ev.Prompt):
            print(f'  >> {event.text}  "{event.suggested_phrase}"', flush=True)

    session = engine.open_call(agent_id="mic", source="mic", sink=sink)
    print("listening; Ctrl-C to stop", file=sys.stderr)
    device = int(args.device) if args.device and args.device.isdigit() else args.device
    try:
        async for chunk in microphone_chunks(chunk_ms=settings.audio.chunk_ms, device=device):
            await session.push_audio(args.channel, chunk)
    finally:
        await session.end("stopped")
        await engine.close()
    return 0
