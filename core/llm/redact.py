"""Secrets out of every error, log line and stored URL.

An endpoint may echo the key it was sent (OpenAI's 401 does: "Incorrect API key provided: sk-..."), and a
base URL may carry `user:password@`. Errors are redacted where they are created (`LLMError`) and again where
they are stored (the call log, `runs.error`), so a path that forgets one still passes the other.

The secrets known here are the configured `OPENAI_API_KEY` and every key or URL password a provider or a
settings record was built with in this process (a key typed into the Settings page never reaches the
environment), plus anything shaped like a key (`sk-...`, `Bearer ...`, `Basic ...`).
"""

from __future__ import annotations

import base64
import re
import threading
from urllib.parse import unquote, urlsplit, urlunsplit

from core.config import setting

MASK = "[redacted]"
# Shorter values would mask ordinary words; no real key or password worth hiding is this short.
_MIN_SECRET_LEN = 4
_PATTERNS = (
    # OpenAI-style keys, including the masked form OpenAI echoes ("sk-proj-****abcd").
    re.compile(r"\bsk-[A-Za-z0-9_*.\-]{4,}"),
    re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=*\-]+", re.IGNORECASE),
    # Userinfo in any URL: scheme://user:pass@host -> scheme://[redacted]@host
    re.compile(r"(?<=://)[^/\s@]+@"),
)
_known: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret this process uses, so any error that echoes it is masked."""
    if not value or len(value) < _MIN_SECRET_LEN or value == "no-key":
        return
    with _lock:
        _known.add(value)


def _secrets() -> list[str]:
    with _lock:
        found = set(_known)
    env_key = setting("OPENAI_API_KEY")
    if env_key and len(env_key) >= _MIN_SECRET_LEN:
        found.add(env_key)
    # Longest first, so a secret that contains another is masked whole.
    return sorted(found, key=len, reverse=True)


def redact(text: str | None) -> str | None:
    """`text` with every known secret and anything shaped like a credential replaced by [redacted]."""
    if not text:
        return text
    for secret in _secrets():
        text = text.replace(secret, MASK)
    text = _PATTERNS[0].sub(MASK, text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _PATTERNS[2].sub(f"{MASK}@", text)


def public_url(url: str) -> str:
    """The URL without `user:password@`: what is stored, shown and used as the endpoint's name."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url) or ""
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host))


def register_url_credentials(url: str) -> None:
    """Register a URL's password (as written, decoded, and as the Basic-auth token it becomes)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        register_secret(parts.password)
        register_secret(unquote(parts.password))
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password)}"
        register_secret(base64.b64encode(pair.encode()).decode())
