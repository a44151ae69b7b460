"""Consistency options of reads (serving, historical features, training sets):
what a read waits for before it answers."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import Any

from featurestore import _values
from featurestore.v1 import types_pb2

Level = types_pb2.Consistency.Level

_LEVELS = {
    "eventual": Level.LEVEL_EVENTUAL,
    "after_write": Level.LEVEL_AFTER_WRITE,
    "at_least": Level.LEVEL_AT_LEAST,
}


def _token_bytes(token: Any) -> Iterable[bytes]:
    """Write tokens from bytes, a hex string (as ``fsctl ingest`` prints) or a
    :class:`featurestore.WriteResult` (which may hold several)."""
    tokens = getattr(token, "write_tokens", None)
    if tokens is not None:
        return list(tokens)
    if isinstance(token, str):
        return [bytes.fromhex(token)]
    if isinstance(token, (bytes, bytearray)):
        return [bytes(token)]
    raise TypeError(
        f"a write token is bytes, hex text or a WriteResult; got {type(token).__name__}"
    )


def consistency(
    level: str | None = None,
    after: Any | Iterable[Any] | None = None,
    at_least: _dt.datetime | int | None = None,
    max_wait: float | None = None,
    serve_stale: bool = False,
) -> types_pb2.Consistency | None:
    """The request's ``Consistency``, or None for the default (EVENTUAL).

    ``after`` (write tokens, or the results of :meth:`Client.ingest`) implies
    ``after_write``; ``at_least`` (a time) implies ``at_least``; ``max_wait``
    is in seconds (the server's default when None); ``serve_stale`` answers
    with what is there, marked STALE, instead of failing when the wait runs
    out (serving only)."""
    if level is None:
        level = "after_write" if after is not None else "at_least" if at_least is not None else None
    if level is None and max_wait is None and not serve_stale:
        return None
    level = level or "eventual"
    if level not in _LEVELS:
        raise ValueError(f"consistency {level!r}: expected one of {', '.join(_LEVELS)}")
    request = types_pb2.Consistency(level=_LEVELS[level], serve_stale=serve_stale)
    if after is not None:
        if level != "after_write":
            raise ValueError("write tokens (after=) go with consistency 'after_write'")
        items = after if isinstance(after, (list, tuple)) else [after]
        for item in items:
            request.write_tokens.extend(_token_bytes(item))
    elif level == "after_write":
        raise ValueError("consistency 'after_write' needs the write tokens to wait for (after=)")
    if at_least is not None:
        if level != "at_least":
            raise ValueError("at_least= goes with consistency 'at_least'")
        request.at_least_micros = _values.micros(at_least)
    elif level == "at_least":
        raise ValueError("consistency 'at_least' needs the time to wait for (at_least=)")
    if max_wait is not None:
        if max_wait < 0:
            raise ValueError("max_wait must not be negative")
        request.max_wait_millis = int(round(max_wait * 1000))
    return request
