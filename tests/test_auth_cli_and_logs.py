"""``voice-assist token`` and the log filter that keeps tokens and keys out of access logs."""

from __future__ import annotations

import logging

import pytest

from voice_assist.cli import main
from voice_assist.server import auth
from voice_assist.server.app import RedactSecrets


def test_token_command_signs_with_the_configured_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VOICE_ASSIST_SECRET", "cli-secret")
    assert main(["token", "agent", "a42", "--ttl-s", "120"]) == 0
    token = capsys.readouterr().out.strip()
    claims = auth.verify_token("cli-secret", token, role="agent")
    assert claims.agent_id == "a42"
    assert claims.expires_at_s - claims.issued_at_s == 120

    assert main(["token", "supervisor", "--url"]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith("http://127.0.0.1:8765/supervisor?token=")
    auth.verify_token("cli-secret", url.split("token=")[1], role="supervisor")


def test_token_command_needs_a_secret_and_an_agent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VOICE_ASSIST_SECRET", raising=False)
    monkeypatch.delenv("VOICE_ASSIST_SERVER__SECRET", raising=False)
    monkeypatch.delenv("VOICE_ASSIST_CONFIG", raising=False)
    assert main(["token", "supervisor"]) == 2
    assert "no server secret configured" in capsys.readouterr().err
    monkeypatch.setenv("VOICE_ASSIST_SECRET", "s")
    assert main(["token", "agent"]) == 2
    assert main(["token", "supervisor", "a1"]) == 2


def test_access_log_lines_lose_their_secrets() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/overlay?token=abc.def&x=1", "1.1", 200),
        None,
    )
    assert RedactSecrets().filter(record)
    line = record.getMessage()
    assert "abc.def" not in line and "token=***&x=1" in line
    ws = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" %s',
        ("127.0.0.1:5000", "/v1/twilio?key=k-secret", "[accepted]"), None,
    )  # fmt: skip
    RedactSecrets().filter(ws)
    assert "k-secret" not in ws.getMessage()
