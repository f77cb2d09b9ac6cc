"""A bare websocket client on a plain socket, for fault tests that need control of the TCP
connection itself: a reset instead of a close frame, a tiny receive buffer, a client that
never reads.  Test helper, not a general client: text/binary frames out (masked), frames
in (unmasked, no fragmentation).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from typing import Any

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeRefused(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


class RawWebSocket:
    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        rcvbuf: int | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        assert url.startswith("ws://")
        hostport, _, path = url[len("ws://") :].partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the advertised window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout_s)
        self._buffer = b""
        self.sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET /{path} HTTP/1.1",
            f"Host: {hostport}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            raise HandshakeRefused(status, self._read_exact(length) if length else b"")

    # -- sending ---------------------------------------------------------------------------
    def send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_text(self, text: str) -> None:
        self.send_frame(OP_TEXT, text.encode())

    def send_json(self, body: Any) -> None:
        self.send_text(json.dumps(body))

    def send_bytes(self, data: bytes) -> None:
        self.send_frame(OP_BINARY, data)

    # -- receiving -------------------------------------------------------------------------
    def recv_frame(self) -> tuple[int, bytes]:
        b0, b1 = self._read_exact(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._read_exact(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._read_exact(8))
        return b0 & 0x0F, self._read_exact(n)

    def recv_json(self) -> dict[str, Any]:
        """The next text message as JSON, answering pings on the way (as clients do)."""
        while True:
            op, payload = self.recv_frame()
            if op == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if op == OP_TEXT:
                return dict(json.loads(payload))
            if op == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                raise ConnectionError(f"closed {code}: {payload[2:].decode(errors='replace')}")

    # -- leaving ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Vanish: an RST, no close frame (SO_LINGER with a zero timeout)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()

    # -- plumbing --------------------------------------------------------------------------
    def _read_exact(self, n: int) -> bytes:
        data = self._buffer
        while len(data) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            data += chunk
        self._buffer = data[n:]
        return data[:n]

    def _read_until(self, marker: bytes) -> bytes:
        data = b""
        while marker not in data:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("connection closed during the handshake")
            data += chunk
        head, _, rest = data.partition(marker)
        self._buffer = rest
        return head
