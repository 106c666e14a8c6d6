"""A lean HTTP/1.1 transport for the hot path: keep-alive connections shared by the threads of one provider.

Against a fast endpoint the openai SDK costs ~1.9 ms of CPU per request (request building, validation,
httpx), more than everything else a call does together. `http.client` costs ~0.3 ms, most of it parsing
the answer's headers with the `email` package; the few lines of HTTP/1.1 below (one write per request,
the head split by hand, a body by Content-Length or chunks) cost a fraction of that. A streamed answer's
body is handed on piece by piece as it arrives. The SDK stays for what this does not do: proxies from the
environment and base URLs with `user:password@` credentials (see `lean_path_for`).

Nothing here retries or interprets an answer: the provider does that, as it does for the SDK. Failures
come out as `TransportError` carrying the short text the provider puts in its error messages.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024  # an answer's status line and headers; more is not an HTTP endpoint we can talk to
READ_SIZE = 64 * 1024


class TransportError(Exception):
    """A request that got no whole answer: `problem` says why ("timed out", "connection failed (...)")."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


class _Stale(Exception):
    """A reused keep-alive connection the server had closed while it sat idle: nothing came back."""


class _Broken(Exception):
    """The answer stopped or made no sense part way: `name` goes into "connection failed (name)"."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes  # empty when its pieces went to a reader instead


# Given an answer's status and headers, what takes its body piece by piece as it arrives (None: read whole).
PieceReader = Callable[[int, dict[str, str]], Callable[[bytes], None] | None]


def lean_path_for(base_url: str) -> bool:
    """Whether requests to this base URL can take the lean path: plain http(s), no credentials in the URL
    (the SDK turns those into Basic auth) and no proxy configured for it in the environment."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return False
    proxies = urllib.request.getproxies()
    return parts.scheme not in proxies or bool(urllib.request.proxy_bypass(parts.hostname))


class _Connection:
    """One socket and what has been read from it but not used yet."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()

    def fill(self) -> bool:
        """Read what has arrived; False when the server closed the connection."""
        chunk = self.sock.recv(READ_SIZE)
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not self.fill():
                raise _Broken("IncompleteRead")
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            if len(self.buffer) > MAX_HEAD or not self.fill():
                raise _Broken("IncompleteRead")
        data = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class Transport:
    """POSTs to one endpoint over at most `pool_size` idle keep-alive connections (more may be open while
    more threads ask at once; the extra ones are closed when they come back)."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout_s: float, pool_size: int):
        parts = urlsplit(base_url.rstrip("/"))
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path
        host = f"[{self._host}]" if ":" in self._host else self._host
        if parts.port is not None:
            host += f":{parts.port}"
        fixed = {
            "Host": host,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            **headers,
        }
        # Built once: every request sends these same lines, then its Content-Length and body.
        self._head = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._timeout = timeout_s
        self._pool_size = max(1, pool_size)
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._ssl = ssl.create_default_context() if self._https else None

    def _connect(self) -> _Connection:
        sock = socket.create_connection((self._host, self._port), timeout=self._timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(sock, server_hostname=self._host)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)

    def _take(self) -> tuple[_Connection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _give_back(self, conn: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append(conn)
                return
        conn.close()

    def post(self, path: str, body: bytes, pieces: PieceReader | None = None) -> Answer:
        """The whole answer to one POST of `body` to `path` (below the base URL's path), whatever its status.
        With `pieces`, a body it takes a reader for goes to that reader as it arrives (a streamed answer);
        an exception from the reader closes the connection and comes out as it is."""
        request = (
            f"POST {self._path}{path} HTTP/1.1\r\n".encode("latin-1")
            + self._head
            + f"Content-Length: {len(body)}\r\n\r\n".encode("latin-1")
            + body
        )
        while True:
            conn: _Connection | None = None
            reused = False
            try:
                conn, reused = self._take()
                return self._exchange(conn, request, reused, pieces)
            except _Stale:
                conn.close()  # type: ignore[union-attr]
                continue  # an idle connection the server had closed: try once more on a fresh one
            except TimeoutError:
                if conn is not None:
                    conn.close()
                raise TransportError("timed out") from None
            except _Broken as exc:
                conn.close()  # type: ignore[union-attr]
                raise TransportError(f"connection failed ({exc.name})") from None
            except OSError as exc:
                if conn is not None:
                    conn.close()
                raise TransportError(f"connection failed ({type(exc).__name__})") from None

    def _exchange(
        self, conn: _Connection, request: bytes, reused: bool, pieces: PieceReader | None = None
    ) -> Answer:
        try:
            conn.sock.sendall(request)  # head and body in one write: no Nagle/delayed-ACK stall
            if not conn.fill():  # the first bytes of the answer (a pooled connection holds none)
                raise _Broken("RemoteDisconnected")
        except (_Broken, BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            if reused:
                raise _Stale() from None
            raise _Broken("RemoteDisconnected" if isinstance(exc, _Broken) else type(exc).__name__) from None
        while True:
            status, version = self._status(conn.line())
            headers = self._headers(conn)
            if not 100 <= status < 200:
                break  # 1xx (100 Continue, 103 Early Hints) come before the real answer
        reader = pieces(status, headers) if pieces is not None else None
        if reader is None:
            data, until_close = self._body(conn, headers, status)
        else:
            try:
                until_close = self._body_in_pieces(conn, headers, status, reader)
            except BaseException:
                conn.close()  # a broken answer, or a reader that gave up (a stop, a bad event)
                raise
            data = b""
        connection = headers.get("connection", "").lower()
        closing = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
        if until_close or closing or conn.buffer:  # bytes beyond the answer: not a connection to reuse
            conn.close()
        else:
            self._give_back(conn)
        return Answer(status, headers, data)

    @staticmethod
    def _status(line: bytes) -> tuple[int, str]:
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise _Broken("BadStatusLine")
        return int(parts[1]), parts[0].decode("latin-1")

    @staticmethod
    def _headers(conn: _Connection) -> dict[str, str]:
        headers: dict[str, str] = {}
        size = 0
        while line := conn.line():
            size += len(line)
            name, sep, value = line.partition(b":")
            if not sep or size > MAX_HEAD:
                raise _Broken("LineTooLong" if size > MAX_HEAD else "BadHeaderLine")
            key = name.strip().lower().decode("latin-1")
            text = value.strip().decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        return headers

    @classmethod
    def _body(cls, conn: _Connection, headers: dict[str, str], status: int) -> tuple[bytes, bool]:
        """The body, and whether it ran until the server closed the connection."""
        parts: list[bytes] = []
        until_close = cls._body_in_pieces(conn, headers, status, parts.append)
        return b"".join(parts), until_close

    @staticmethod
    def _hand_on(conn: _Connection, n: int, reader: Callable[[bytes], None]) -> None:
        """The next n bytes of the body to `reader`, in the pieces they arrive in (a long chunk or body is
        handed on as it comes)."""
        while n > 0:
            if not conn.buffer and not conn.fill():
                raise _Broken("IncompleteRead")
            piece = conn.take(min(n, len(conn.buffer)))
            n -= len(piece)
            reader(piece)

    @classmethod
    def _body_in_pieces(
        cls, conn: _Connection, headers: dict[str, str], status: int, reader: Callable[[bytes], None]
    ) -> bool:
        """The body, each piece handed to `reader` as it arrives (by Content-Length, by chunks, or until the
        server closes); whether it ran until the server closed the connection."""
        if status in (204, 304):
            return False
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size_text = conn.line().split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise _Broken("IncompleteRead") from None
                if size == 0:
                    while conn.line():  # trailers, then the blank line
                        pass
                    return False
                cls._hand_on(conn, size, reader)
                if conn.take(2) != b"\r\n":
                    raise _Broken("IncompleteRead")
        if (length := headers.get("content-length")) is not None:
            if not length.isdigit():
                raise _Broken("BadHeaderLine")
            cls._hand_on(conn, int(length), reader)
            return False
        while True:  # neither: the body is whatever comes until the server closes
            if conn.buffer:
                reader(bytes(conn.buffer))
                conn.buffer.clear()
            if not conn.fill():
                return True

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
