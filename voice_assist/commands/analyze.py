"""``voice-assist analyze AUDIO``: run a recording through the live streaming pipeline."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

HELP = "run a call recording through the live pipeline (as fast as possible, or --realtime)"

_DENSE = ("prosody", "vad")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "audio", metavar="AUDIO", help="wav/flac/ogg/mp3; mono = customer, stereo = customer, agent"
    )
    p.add_argument("--json", action="store_true", help="print events as JSON Lines on stdout")
    p.add_argument("--realtime", action="store_true", help="pace the audio at 1x, like a live call")
    p.add_argument(
        "--channel-map",
        default=None,
        metavar="A,B",
        help="legs of a stereo file's channels 0,1 (default: customer,agent)",
    )
    p.add_argument("--agent-id", default="file", help="agent id recorded with the call")
    p.add_argument("--language", default=None, help="override asr.language (e.g. en, de, auto)")
    p.add_argument("--no-store", action="store_true", help="do not keep the call in the call store")
    p.add_argument(
        "--all-events", action="store_true", help="also print dense events (prosody frames, VAD)"
    )


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_analyze(args))


async def _analyze(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from voice_assist import events as ev
    from voice_assist.audio.files import load_legs
    from voice_assist.config import load_settings
    from voice_assist.runtime.engine import Engine
    from voice_assist.runtime.filefeed import feed_legs
    from voice_assist.wire import EVENT_TYPES, to_wire

    overrides: dict[str, dict[str, Any]] = {}
    if args.language:
        overrides["asr"] = {"language": args.language}
    settings = load_settings(args.config, overrides=overrides)
    channel_map = (
        tuple(x.strip() for x in args.channel_map.split(","))
        if args.channel_map
        else settings.audio.file_channel_map
    )
    legs = load_legs(args.audio, channel_map=channel_map)
    meta = {"file": str(args.audio)}
    if "agent" not in legs:
        meta["legs"] = "mixed"
        prompts = "raised" if settings.coach.mixed_leg_prompts else "not raised"
        print(
            f"voice-assist: {args.audio} is mono: both voices are on the customer leg, so the "
            f"agent's voice enters the customer's baseline and scores; distress prompts and "
            f"alerts are {prompts} (coach.mixed_leg_prompts)",
            file=sys.stderr,
        )
    duration_s = max(x.size for x in legs.values()) / 16000
    store = None
    if not args.no_store:
        from voice_assist.store import Store

        store = Store.open(settings)
    engine = await Engine.start(settings, store=store)
    seq = 0
    transcript_lines: list[str] = []

    def sink(event: ev.Event) -> None:
        nonlocal seq
        if args.json:
            if EVENT_TYPES[type(event)] in _DENSE and not args.all_events:
                return
            seq += 1
            sys.stdout.write(json.dumps(to_wire(event, seq=seq), ensure_ascii=False) + "\n")
        elif isinstance(event, ev.TranscriptEvent) and event.is_final:
            span = f"[{event.start_ms / 1000:7.2f}-{event.end_ms / 1000:7.2f}]"
            transcript_lines.append(f"{span} {event.channel:8s} {event.text}")

    bar = tqdm(
        total=round(duration_s, 1),
        unit="s",
        desc="analyze",
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s audio [{elapsed}<{remaining}]",
    )

    def progress(done_s: float) -> None:
        bar.n = round(done_s, 1)
        bar.refresh()

    try:
        session = engine.open_call(agent_id=args.agent_id, source="file", meta=meta, sink=sink)
        await feed_legs(
            session,
            legs,
            chunk_ms=settings.audio.chunk_ms,
            realtime=args.realtime,
            progress=progress,
        )
    finally:
        bar.close()
        await engine.close()
    if not args.json:
        for line in transcript_lines:
            print(line)
        if store is not None:
            print(session.call_id)
    sys.stdout.flush()
    return 0
