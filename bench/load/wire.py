"""Raw HTTP/1.1 over loopback: requests built as bytes, responses framed by Content-Length.

Just enough HTTP for the load generator and the set-up requests, with no client library's
cost in the measured loop; 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from typing import Any

LOOPBACK = "127.0.0.1"


def http_request(
    method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}"]
    lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
    if body or method not in {"GET", "HEAD"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse_response(buffer: bytes) -> tuple[int, int] | None:
    """``(status, total length)`` of the first complete response in ``buffer``, or None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buffer[:end].lower()
    status = int(head[9:12])
    marker = head.find(b"\r\ncontent-length:")
    if marker < 0:
        raise ValueError("response without Content-Length")
    value_end = head.find(b"\r\n", marker + 2)
    length = int(head[marker + 17 : value_end if value_end > 0 else len(head)])
    total = end + 4 + length
    return (status, total) if len(buffer) >= total else None


def fetch(port: int, request: bytes, *, timeout: float = 5) -> tuple[int, bytes]:
    """One request on a fresh connection: ``(status, whole response)``."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        return exchange(sock, request)


def exchange(sock: socket.socket, request: bytes) -> tuple[int, bytes]:
    """One request on an open connection: ``(status, whole response)``."""
    sock.sendall(request)
    buffer = b""
    while (parsed := parse_response(buffer)) is None:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a full response")
        buffer += chunk
    return parsed[0], buffer[: parsed[1]]


def response_json(response: bytes) -> Any:
    return json.loads(response[response.find(b"\r\n\r\n") + 4 :])


def response_header(response: bytes, name: str) -> str | None:
    head = response[: response.find(b"\r\n\r\n")].decode("latin-1")
    match = re.search(rf"^{re.escape(name)}:\s*(.*?)\s*$", head, re.IGNORECASE | re.MULTILINE)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Target:
    """A request to measure, by the scenario name it is reported under."""

    name: str
    method: str
    path: str
    expected_status: int
    headers: dict[str, str]
    body: bytes = b""

    def request(self) -> bytes:
        return http_request(self.method, self.path, headers=self.headers, body=self.body)
