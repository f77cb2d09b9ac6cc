"""``voice-assist bench fuzz``: fuzz every ingress parser and feed handler; count the inputs.

Two levels, both driven by the hypothesis strategies of :mod:`benchmarks.fuzzing`:

1. **Sans-I/O** (``--examples`` sequences per target): the native, Twilio and AudioHook
   adapters (in any order, after a good start/open, and AudioHook ``open`` parameters)
   and the overlay and wall-board message readers, with the invariants of that module
   checked on every input.  Each input runs under a watchdog: one taking longer than
   ``--hang-s`` counts as a hang (and fails the target).
2. **Wire** (``--wire`` sequences per ingress): the same kind of sequences sent over real
   websockets to a real server on 127.0.0.1 (uvicorn, the real engine); every connection
   must end with a protocol close code (never 1011 "internal error"), no exception may
   be logged by the server, and ``/healthz`` must answer 200 at the end.

Prints one JSON object with ``--json``: per target the sequences and messages tried,
rejections by code, crashes and hangs (both must be 0), and the totals.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

HELP = "fuzz every ingress parser and feed handler (hypothesis) and count the inputs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--examples", type=int, default=3000, help="sequences per sans-I/O target")
    p.add_argument("--wire", type=int, default=100, help="sequences per ingress over a server")
    p.add_argument("--hang-s", type=float, default=10.0, help="an input this slow is a hang")
    p.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")


def run(args: argparse.Namespace) -> int:
    result = _bench(args)
    if args.json:
        print(json.dumps(result))
    else:
        for name, target in result["targets"].items():
            print(
                f"{name:24s} {target['sequences']:6d} sequences {target['messages']:7d} messages "
                f"crashes {target['crashes']} hangs {target['hangs']}"
            )
        print(f"total: {result['total_sequences']} sequences, {result['total_messages']} messages")
    return 0 if result["crashes"] == 0 and result["hangs"] == 0 else 1


class _Hang(Exception):
    pass


@contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    def alarm(signum: int, frame: object) -> None:
        raise _Hang(f"an input ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks import fuzzing

    out: dict[str, Any] = {"bench": "fuzz", "examples_per_target": args.examples, "targets": {}}
    t0 = time.monotonic()
    for name, (kind, strategy) in fuzzing.INGRESS_TARGETS.items():
        out["targets"][name] = _run_target(
            args, strategy, lambda steps, t, k=kind: fuzzing.drive_ingress(k, steps, t)
        )
    for name, (kind, strategy) in fuzzing.FEED_TARGETS.items():
        out["targets"][name] = _run_target(
            args,
            strategy,
            lambda steps, t, k=kind: asyncio.run(fuzzing.drive_feed(k, steps, t)),
        )
    if args.wire > 0:
        out["wire"] = _wire(args)
        out["targets"].update(out["wire"].pop("targets"))
    targets = out["targets"].values()
    out["total_sequences"] = sum(t["sequences"] for t in targets)
    out["total_messages"] = sum(t["messages"] for t in targets)
    out["crashes"] = sum(t["crashes"] for t in targets)
    out["hangs"] = sum(t["hangs"] for t in targets)
    out["duration_s"] = round(time.monotonic() - t0, 1)
    return out


def _run_target(args: argparse.Namespace, strategy: Any, drive: Any) -> dict[str, Any]:
    from hypothesis import HealthCheck, given, seed, settings

    from benchmarks import fuzzing

    tally = fuzzing.Tally()
    timing = {"slowest_s": 0.0}
    failure: dict[str, Any] = {}

    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(steps=strategy)
    def check(steps: list[Any]) -> None:
        started = time.monotonic()
        with _watchdog(args.hang_s):
            drive(steps, tally)
        timing["slowest_s"] = max(timing["slowest_s"], time.monotonic() - started)

    if args.seed is not None:
        check = seed(args.seed)(check)
    try:
        check()
    except _Hang as exc:
        failure = {"hang": str(exc)}
    except Exception as exc:  # hypothesis re-raises the shrunk failing example
        failure = {"crash": f"{type(exc).__name__}: {exc}"[:1000]}
    result = tally.as_dict()
    result["crashes"] = 1 if "crash" in failure else 0
    result["hangs"] = 1 if "hang" in failure else 0
    result["slowest_input_ms"] = round(1000 * timing["slowest_s"], 1)
    if failure:
        result["failure"] = failure
    return result


# -- over the wire -------------------------------------------------------------------------------
class _Errors(logging.Handler):
    """Counts errors (and exceptions) the server logs while the wire fuzz runs."""

    SERVER_LOGGERS = ("voice_assist", "uvicorn")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(self.SERVER_LOGGERS):
            self.records.append(f"{record.name}: {record.getMessage()}"[:300])


def _wire(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    import httpx

    from benchmarks import fuzzing
    from voice_assist.config import load_settings
    from voice_assist.server.local import ServerThread
    from voice_assist.store import Store

    key = "fuzz-wire-key"
    errors = _Errors()
    watched = [logging.getLogger(name) for name in ("", "uvicorn")]  # uvicorn: no propagation
    # the fuzzing client vanishing on purpose makes its own library complain: not the server
    client_log = logging.getLogger("websockets.client")
    client_level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="va-fuzz-") as data_dir:
        settings_ = load_settings(
            overrides={
                "server": {
                    "secret": "fuzz-wire-secret",
                    "ingest_keys": [key],
                    "max_message_bytes": 65536,
                    "idle_timeout_s": 2.0,
                    "start_timeout_s": 2.0,
                    "max_connections_per_key": 1000,
                },
                "store": {"data_dir": data_dir},
            }
        )
        store = Store.open(settings_)
        srv = ServerThread(settings_, store=store).start()
        for logger in watched:  # after uvicorn configured its loggers
            logger.addHandler(errors)
        try:
            for kind, strategy in (
                ("native", fuzzing.native_sessions),
                ("twilio", fuzzing.twilio_sessions),
                ("audiohook", fuzzing.audiohook_sessions),
            ):
                results[f"wire_{kind}"] = _wire_target(srv.ws_url, kind, strategy, key, args.wire)
            healthy = httpx.get(f"{srv.base_url}/healthz", timeout=10).status_code == 200
        finally:
            srv.stop()
            store.close()
            for logger in watched:
                logger.removeHandler(errors)
            client_log.setLevel(client_level)
    if errors.records:
        results["wire_native"]["crashes"] += 1
        results["wire_native"].setdefault("failure", {})["logged"] = errors.records[:5]
    return {
        "targets": results,
        "server_healthy_after": healthy,
        "errors_logged": len(errors.records),
    }


def _wire_target(base: str, kind: str, strategy: Any, key: str, examples: int) -> dict[str, Any]:
    from hypothesis import HealthCheck, given, settings

    from benchmarks import fuzzing

    tally = fuzzing.Tally()
    codes: dict[int, int] = {}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(steps=strategy)
    def check(steps: list[Any]) -> None:
        code = _send_over_wire(base, kind, key, steps, tally)
        codes[code] = codes.get(code, 0) + 1
        assert code != 1011, "the server closed with an internal error"

    failure = ""
    try:
        check()
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"[:1000]
    result: dict[str, Any] = {
        "sequences": tally.sequences,
        "messages": tally.messages,
        "close_codes": {str(c): n for c, n in sorted(codes.items())},
        "crashes": 1 if failure else 0,
        "hangs": 0,
    }
    if failure:
        result["failure"] = {"crash": failure}
    return result


def _send_over_wire(base: str, kind: str, key: str, steps: list[Any], tally: Any) -> int:
    """Send one sequence on a fresh connection, then the protocol's goodbye; return how the
    server closed the connection (1006: no close frame, e.g. the client vanished)."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    path = {"native": "/v1/ingest", "twilio": "/v1/twilio", "audiohook": "/v1/audiohook"}[kind]
    headers = {"X-API-KEY": key} if kind == "audiohook" else {"Authorization": f"Bearer {key}"}
    tally.sequences += 1
    seq = {"client": 0, "server": 0}
    code = 1006
    url = f"{base}{path}"
    # leaving a connection that vanished may raise: it is gone, which is what was meant
    with (
        suppress(Exception),
        connect(url, additional_headers=headers, max_size=None, close_timeout=2) as ws,
    ):
        try:
            for step_kind, value in steps:
                tally.messages += 1
                if step_kind == "lost":
                    ws.socket.close()  # vanish: no close frame
                    return 1006
                if step_kind == "ah":
                    seq["client"] += 1
                    value = _render_wire_audiohook(value, seq)
                ws.send(value)
                _drain(ws, seq)
            seq["client"] += 1
            ws.send(_goodbye(kind, seq))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                _drain(ws, seq, timeout_s=0.5)
        except (ConnectionClosed, TimeoutError, OSError):
            pass
        code = ws.close_code if ws.close_code is not None else 1006
    return code


def _goodbye(kind: str, seq: dict[str, int]) -> str:
    if kind == "native":
        return '{"type": "stop"}'
    if kind == "twilio":
        return '{"event": "stop", "stop": {}}'
    return json.dumps(
        {
            "version": "2",
            "id": "sess",
            "type": "close",
            "seq": seq["client"],
            "serverseq": seq["server"],
            "position": "PT0S",
            "parameters": {"reason": "end"},
        }
    )


def _drain(ws: Any, seq: dict[str, int], timeout_s: float = 0.0) -> None:
    from websockets.exceptions import ConnectionClosed

    while True:
        try:
            raw = ws.recv(timeout=timeout_s)
        except TimeoutError:
            return
        except ConnectionClosed:
            raise
        if isinstance(raw, str):
            with suppress(ValueError, AttributeError, TypeError):
                seq["server"] = int(json.loads(raw).get("seq", seq["server"]))


def _render_wire_audiohook(spec: dict[str, Any], seq: dict[str, int]) -> str:
    client = seq["client"]
    n = {"next": client, "repeat": client - 1, "skip": client + 1, "zero": 0, "junk": "1"}
    server = {"last": seq["server"], "ahead": seq["server"] + 1, "negative": -1, "junk": None}
    body = {
        "version": spec["version"],
        "id": spec["id"],
        "type": spec["type"],
        "seq": n[spec["seq"]],
        "serverseq": server[spec["serverseq"]],
        "position": spec["position"],
        "parameters": spec["parameters"],
    }
    return json.dumps(body, allow_nan=True)


__all__ = ["HELP", "add_arguments", "run"]
