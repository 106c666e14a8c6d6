"""A lean HTTP/1.1 transport for the non-streamed hot path: keep-alive connections shared by the threads
of one provider.

Against a fast endpoint the openai SDK costs ~1.9 ms of CPU per request (request building, validation,
httpx), more than everything else a call does together; `http.client` over a pooled connection costs
~0.1 ms. The SDK stays for what this does not do: streamed answers, proxies from the environment, and
base URLs with `user:password@` credentials (see `lean_path_for`).

Nothing here retries or interprets an answer: the provider does that, as it does for the SDK. Failures
come out as `TransportError` carrying the short text the provider puts in its error messages.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import urllib.request
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

# Errors of a reused keep-alive connection that the server closed while it sat idle: nothing was answered,
# so the request is sent again at once on a new connection (not counted as an attempt).
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class TransportError(Exception):
    """A request that got no whole answer: `problem` says why ("timed out", "connection failed (...)")."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message
    body: bytes


def lean_path_for(base_url: str) -> bool:
    """Whether requests to this base URL can take the lean path: plain http(s), no credentials in the URL
    (the SDK turns those into Basic auth) and no proxy configured for it in the environment."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return False
    proxies = urllib.request.getproxies()
    return parts.scheme not in proxies or bool(urllib.request.proxy_bypass(parts.hostname))


class Transport:
    """POSTs to one endpoint over at most `pool_size` idle keep-alive connections (more may be open while
    more threads ask at once; the extra ones are closed when they come back)."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout_s: float, pool_size: int):
        parts = urlsplit(base_url.rstrip("/"))
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = parts.path
        self._headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}
        self._timeout = timeout_s
        self._pool_size = max(1, pool_size)
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._ssl = ssl.create_default_context() if self._https else None

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=self._ssl
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append(conn)
                return
        conn.close()

    def post(self, path: str, body: bytes) -> Answer:
        """The whole answer to one POST of `body` to `path` (below the base URL's path), whatever its status."""
        while True:
            conn, reused = self._take()
            try:
                return self._exchange(conn, path, body)
            except _STALE as exc:
                conn.close()
                if reused:
                    continue  # an idle connection the server had closed: try once more on a fresh one
                raise TransportError(f"connection failed ({type(exc).__name__})") from None
            except TimeoutError:
                conn.close()
                raise TransportError("timed out") from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise TransportError(f"connection failed ({type(exc).__name__})") from None

    def _exchange(self, conn: http.client.HTTPConnection, path: str, body: bytes) -> Answer:
        # http.client sends headers and a bytes body in one write (no Nagle/delayed-ACK stall).
        conn.request("POST", self._path + path, body, self._headers)
        response = conn.getresponse()
        data = response.read()  # a body cut short raises IncompleteRead: a failed connection
        if response.will_close:
            conn.close()
        else:
            self._give_back(conn)
        return Answer(response.status, response.headers, data)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
