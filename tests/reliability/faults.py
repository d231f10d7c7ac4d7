"""A TCP proxy on loopback that injects network faults between the app and a dependency.

Stopping a server is not enough to cut a client off: keep-alive connections it already
accepted live on in their handler threads. The app talks to the proxy instead, which can
forward, or hang (accept every connection and never answer: what a dead host behind a load
balancer looks like), and cut every open connection at once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Literal


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode: Literal["forward", "hang"] = "forward"
        self.accepted = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._sockets.append(client)
            if self.mode == "hang":
                continue  # held open, never read, never answered
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=2)
            except OSError:
                client.close()  # upstream down: the client sees its connection closed
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.append(upstream)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
            target.shutdown(socket.SHUT_WR)
        except OSError:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.close()

    def cut(self) -> None:
        """Close every connection open through the proxy (both sides)."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def hang(self) -> None:
        self.mode = "hang"
        self.cut()

    def forward(self) -> None:
        self.mode = "forward"
        self.cut()

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(2)
        self._listener.close()
        self.cut()
