"""Compact storage of the call log's large texts (prompts, chat messages, answers).

A Self-Instruct run sends tens of thousands of prompts that are the same few-shot template with a different
instruction at the end. Each prompt is compressed with zlib against a *dictionary*: the first prompt seen of
its family (prompts sharing their opening characters), stored once in `call_dicts`. The template then costs
a few bytes per row instead of kilobytes. Answers are compressed on their own. zlib records a checksum of
the dictionary in every stream, so a row can never be silently decoded with the wrong one.

The decoding parameters are compressed the same way, against one dictionary of their own.

Rows written before this existed keep their plain `prompt`/`messages`/`choices`/`params` columns;
`decode_row` reads either form, so old logs stay readable and keep answering from the cache.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
import zlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, insert, select

from core.store.db import utcnow
from core.store.schema import call_dicts

# Texts shorter than this stay in the plain columns: compression would not pay for its header.
PLAIN_MAX = 200
# The opening characters that name a prompt family: the template's start, not the varying part. Short on
# purpose: the paper's generation prompt is "Come up with a series of tasks:" (31 characters) and then the
# first sampled instruction; a longer prefix made almost every generation prompt a family of its own.
FAMILY_CHARS = 32
# zlib's window is 32 KiB: a longer dictionary could not be referenced anyway.
DICT_MAX = 32 * 1024
LEVEL = 6
# Decoding parameters (~150 bytes of JSON per call, a seed apart from their neighbours' at most) share one
# dictionary: the first parameters logged. Compressed against it they take ~30 bytes.
PARAMS_FAMILY = hashlib.sha256(b"calls:params").hexdigest()

_lock = threading.Lock()
# Per engine (dropped with it): family -> (dict id, dictionary bytes), and dict id -> dictionary bytes.
# Dictionaries never change once written, so these caches cannot go stale while the engine lives.
_by_family: weakref.WeakKeyDictionary[Engine, dict[str, tuple[int, bytes]]] = weakref.WeakKeyDictionary()
_by_id: weakref.WeakKeyDictionary[Engine, dict[int, bytes]] = weakref.WeakKeyDictionary()


def family_of(text: str) -> str:
    return hashlib.sha256(text[:FAMILY_CHARS].encode()).hexdigest()


def compress(data: bytes, zdict: bytes | None = None) -> bytes:
    c = zlib.compressobj(LEVEL, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, zdict) if zdict else None
    if c is None:
        return zlib.compress(data, LEVEL)
    return c.compress(data) + c.flush()


def decompress(data: bytes, zdict: bytes | None = None) -> bytes:
    d = zlib.decompressobj(15, zdict=zdict) if zdict else zlib.decompressobj(15)
    return d.decompress(data) + d.flush()


def _dictionary_for(engine: Engine, text: str, family: str | None = None) -> tuple[int, bytes]:
    """The dictionary of this text's family, creating it from this text if the family is new."""
    family = family or family_of(text)
    with _lock:
        known = _by_family.setdefault(engine, {}).get(family)
    if known is not None:
        return known
    with engine.connect() as conn:
        row = conn.execute(
            select(call_dicts.c.id, call_dicts.c.data)
            .where(call_dicts.c.family == family)
            .order_by(call_dicts.c.id)
            .limit(1)
        ).first()
    if row is not None:
        found = (row.id, decompress(row.data))
    else:
        zdict = text.encode()[:DICT_MAX]
        with engine.begin() as conn:
            new_id = conn.execute(
                insert(call_dicts)
                .values(family=family, data=compress(zdict), created_at=utcnow())
                .returning(call_dicts.c.id)
            ).scalar_one()
        found = (new_id, zdict)
    with _lock:
        # Two threads may both have created one; keep the first seen, both stay decodable.
        found = _by_family.setdefault(engine, {}).setdefault(family, found)
        _by_id.setdefault(engine, {})[found[0]] = found[1]
    return found


def _dictionary(engine: Engine, dict_id: int) -> bytes:
    with _lock:
        known = _by_id.setdefault(engine, {}).get(dict_id)
    if known is not None:
        return known
    with engine.connect() as conn:
        data = conn.execute(select(call_dicts.c.data).where(call_dicts.c.id == dict_id)).scalar_one()
    zdict = decompress(data)
    with _lock:
        _by_id[engine][dict_id] = zdict
    return zdict


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_row(engine: Engine, values: dict[str, Any]) -> dict[str, Any]:
    """Column values for a new call row: large prompt/messages/choices and the parameters moved to their
    compressed columns."""
    # Every row carries every column, so rows of one executemany agree on their keys.
    out = {
        **values,
        "prompt_z": None,
        "messages_z": None,
        "choices_z": None,
        "dict_id": None,
        "params_z": None,
        "params_dict": None,
    }
    prompt, messages, choices = values.get("prompt"), values.get("messages"), values.get("choices")
    text = prompt if prompt is not None else (_json(messages) if messages is not None else None)
    if text is not None and len(text) >= PLAIN_MAX:
        dict_id, zdict = _dictionary_for(engine, text)
        blob = compress(text.encode(), zdict)
        out["dict_id"] = dict_id
        if prompt is not None:
            out["prompt"], out["prompt_z"] = None, blob
        else:
            out["messages"], out["messages_z"] = None, blob
    if choices is not None:
        encoded = _json(choices)
        if len(encoded) >= PLAIN_MAX:
            out["choices"], out["choices_z"] = None, compress(encoded.encode())
    params = values.get("params")
    if params:
        encoded = _json(params)
        params_id, params_zdict = _dictionary_for(engine, encoded, PARAMS_FAMILY)
        out["params"], out["params_z"], out["params_dict"] = (
            None,
            compress(encoded.encode(), params_zdict),
            params_id,
        )
    return out


def decode_row(engine: Engine, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A stored call row (old plain form or compact form) as the CallRecord fields, texts restored."""
    row = dict(mapping)
    prompt_z, messages_z = row.pop("prompt_z", None), row.pop("messages_z", None)
    choices_z, dict_id = row.pop("choices_z", None), row.pop("dict_id", None)
    params_z, params_dict = row.pop("params_z", None), row.pop("params_dict", None)
    if prompt_z is not None or messages_z is not None:
        zdict = _dictionary(engine, dict_id)
        if prompt_z is not None:
            row["prompt"] = decompress(prompt_z, zdict).decode()
        if messages_z is not None:
            row["messages"] = json.loads(decompress(messages_z, zdict))
    if choices_z is not None:
        row["choices"] = json.loads(decompress(choices_z))
    if params_z is not None:
        row["params"] = json.loads(decompress(params_z, _dictionary(engine, params_dict)))
    return row


# --- run results ------------------------------------------------------------------------------------------

# Result values from this size on are compressed (a Self-Instruct record holds its whole prompt).
RESULT_PLAIN_MAX = 512


def result_family(key: str) -> str:
    """Results of one kind (the key up to its first "/", e.g. "inst") share a dictionary."""
    return hashlib.sha256(f"run_results:{key.split('/', 1)[0]}".encode()).hexdigest()


def encode_result(engine: Engine, key: str, value: Any) -> dict[str, Any]:
    """Column values for a new result row: `value`, or JSON null plus the compressed value."""
    encoded = _json(value)
    if len(encoded) < RESULT_PLAIN_MAX:
        return {"value": value, "value_z": None, "value_dict": None}
    dict_id, zdict = _dictionary_for(engine, encoded, result_family(key))
    return {"value": None, "value_z": compress(encoded.encode(), zdict), "value_dict": dict_id}


def decode_result(engine: Engine, value: Any, value_z: bytes | None, value_dict: int | None) -> Any:
    if value_z is None:
        return value
    return json.loads(decompress(value_z, _dictionary(engine, value_dict)))
