"""A real TCP relay on 127.0.0.1 in front of the chain node, which a test can cut and restore.

Cut closes the listening socket and every relayed connection, so the machine sees
exactly what a dead link looks like (connection refused / reset); restore listens
again on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

CHUNK = 65536


class Relay:
    def __init__(self, target_url: str) -> None:
        target = urlsplit(target_url)
        assert target.hostname is not None
        assert target.port is not None
        self.target = (target.hostname, target.port)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._lose_after: bytes | None = None
        self._losing: set[socket.socket] = set()  # clients whose next answer is lost
        self._listener = self._listen(0)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cut()

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return listener

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by cut()
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(CHUNK):
                with self._lock:
                    if self._lose_after is not None and self._lose_after in data:
                        self._losing.add(source)
                        self._lose_after = None
                    lose = sink in self._losing
                if lose:  # the node has done it; the answer never reaches the client
                    continue
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._sockets.discard(source)
            source.close()  # each socket is the source of exactly one pump

    def cut(self) -> None:
        """The link goes down: nothing new connects, open connections are reset."""
        with contextlib.suppress(OSError):  # wakes the blocked accept() (Linux)
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for end in sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def lose_next_answer(self, request_marker: bytes) -> None:
        """Forward the next request containing ``request_marker`` but never deliver the
        node's answer (the client times out): the request took effect, the client cannot know."""
        with self._lock:
            self._lose_after = request_marker

    def restore(self) -> None:
        """The link comes back on the same address."""
        self._listener = self._listen(self.port)
