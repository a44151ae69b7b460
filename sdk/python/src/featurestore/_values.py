"""The one mapping between the wire's ``featurestore.v1.Value`` / ``ValueType``
and Python and Arrow values: key values sent, feature values read back.

Timestamps travel as µs since the epoch (UTC); in Python they are
timezone-aware ``datetime`` objects in UTC, in Arrow ``timestamp[us, UTC]``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from featurestore._domain import scalar_name
from featurestore.v1 import catalog_pb2, types_pb2

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)

S = types_pb2.ScalarType

_ARROW_SCALAR = {
    S.SCALAR_TYPE_BOOL: pa.bool_(),
    S.SCALAR_TYPE_INT32: pa.int32(),
    S.SCALAR_TYPE_INT64: pa.int64(),
    S.SCALAR_TYPE_FLOAT32: pa.float32(),
    S.SCALAR_TYPE_FLOAT64: pa.float64(),
    S.SCALAR_TYPE_STRING: pa.string(),
    S.SCALAR_TYPE_BYTES: pa.binary(),
    S.SCALAR_TYPE_TIMESTAMP: pa.timestamp("us", tz="UTC"),
}

A = catalog_pb2.AggregationFunction
_INT64_RESULTS = {A.AGGREGATION_FUNCTION_COUNT, A.AGGREGATION_FUNCTION_APPROX_DISTINCT}


def arrow_type(value_type: types_pb2.ValueType) -> pa.DataType:
    """The Arrow type a feature of this type is read as."""
    scalar = _ARROW_SCALAR.get(value_type.scalar, pa.null())
    return pa.list_(scalar) if value_type.is_list else scalar


def aggregation_arrow_type(aggregation: catalog_pb2.Aggregation) -> pa.DataType:
    """An aggregated feature's result type: count and approx_distinct INT64,
    last_k a list of FLOAT64 (latest first), every other function FLOAT64."""
    if aggregation.function in _INT64_RESULTS:
        return pa.int64()
    if aggregation.function == A.AGGREGATION_FUNCTION_LAST_K:
        return pa.list_(pa.float64())
    return pa.float64()


_FIELD_OF_SCALAR = {
    pa.bool_(): "bool",
    pa.int32(): "int32",
    pa.int64(): "int64",
    pa.float32(): "float32",
    pa.float64(): "float64",
    pa.string(): "string",
    pa.binary(): "bytes",
    pa.timestamp("us", tz="UTC"): "timestamp",
}


def value_field(data_type: pa.DataType | None) -> str | None:
    """The ``Value`` oneof field a value of this Arrow type travels in
    (``float64_value``, ``string_list``, ...); None when not known."""
    if data_type is None:
        return None
    if pa.types.is_list(data_type):
        inner = _FIELD_OF_SCALAR.get(data_type.value_type)
        return f"{inner}_list" if inner else None
    inner = _FIELD_OF_SCALAR.get(data_type)
    return f"{inner}_value" if inner else None


def row_values(values, fields: list[str | None], lists: list[int]) -> list[Any]:
    """One vector's values as raw Python, each read from the field its
    column's type says (a value in another field is null or unexpected:
    read generically); ``lists`` are the positions of list columns."""
    out = [
        getattr(v, f) if f is not None and v.WhichOneof("kind") == f else raw(v)
        for v, f in zip(values, fields, strict=False)
    ]
    for i in lists:
        value = out[i]
        if value is not None and not isinstance(value, list):
            out[i] = list(value.values)
    return out


# Keys of these scalar types whose Python type is exactly one of these take
# the fast path (set in place on the request); anything else goes through
# key_value (numpy scalars, datetimes, and the errors naming the key).
_FAST_KEYS = {
    S.SCALAR_TYPE_INT64: ((int,), "int64_value"),
    S.SCALAR_TYPE_INT32: ((int,), "int32_value"),
    S.SCALAR_TYPE_STRING: ((str,), "string_value"),
    S.SCALAR_TYPE_BOOL: ((bool,), "bool_value"),
    S.SCALAR_TYPE_BYTES: ((bytes,), "bytes_value"),
}


def add_key_rows(target, names: list[str], scalars: list[int], rows: list[tuple[Any, ...]]) -> None:
    """Appends entity rows to a request's repeated ``Row`` field, typed as the
    view's key columns want (built in place: a third of the time of building
    messages and copying them in)."""
    fast = [_FAST_KEYS.get(s) for s in scalars]
    add = target.add
    if len(fast) == 1 and fast[0] is not None:
        accepted, field = fast[0]
        if all(type(v) in accepted for (v,) in rows):
            if field == "int64_value":
                for (v,) in rows:
                    add().values.add().int64_value = v
            else:
                for (v,) in rows:
                    setattr(add().values.add(), field, v)
            return
    for row in rows:
        values = add().values
        for name, scalar, how, value in zip(names, scalars, fast, row, strict=False):
            if how is not None and type(value) in how[0]:
                setattr(values.add(), how[1], value)
            else:
                values.append(key_value(name, scalar, value))


def micros(value: Any) -> int:
    """µs since the epoch of a datetime (naive = UTC), a pandas Timestamp or
    an int already in µs."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a timestamp")
    if isinstance(value, int):
        return value
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    to_datetime = getattr(value, "to_pydatetime", None)
    if to_datetime is not None:
        return micros(to_datetime())
    raise TypeError(f"{value!r} is not a timestamp (datetime or µs since the epoch)")


def datetime_of(us: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(microseconds=us)


def key_value(name: str, scalar: int, value: Any) -> types_pb2.Value:
    """A join key's value typed as the view's key column wants it."""

    def wrong() -> TypeError:
        return TypeError(f"key {name}={value!r}: not a {scalar_name(scalar)}")

    if value is None:
        raise TypeError(f"key {name} is missing (None)")
    if hasattr(value, "item") and not isinstance(value, (bytes, str)):
        value = value.item()  # numpy scalars
    if scalar in (S.SCALAR_TYPE_INT64, S.SCALAR_TYPE_INT32):
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        field = "int64_value" if scalar == S.SCALAR_TYPE_INT64 else "int32_value"
        return types_pb2.Value(**{field: value})
    if scalar == S.SCALAR_TYPE_STRING:
        if not isinstance(value, str):
            raise wrong()
        return types_pb2.Value(string_value=value)
    if scalar == S.SCALAR_TYPE_BOOL:
        if not isinstance(value, bool):
            raise wrong()
        return types_pb2.Value(bool_value=value)
    if scalar == S.SCALAR_TYPE_BYTES:
        if not isinstance(value, (bytes, bytearray)):
            raise wrong()
        return types_pb2.Value(bytes_value=bytes(value))
    if scalar == S.SCALAR_TYPE_TIMESTAMP:
        return types_pb2.Value(timestamp_value=micros(value))
    raise TypeError(f"key {name}: keys of type {scalar_name(scalar)} are not supported")


_LISTS = {
    "bool_list",
    "int32_list",
    "int64_list",
    "float32_list",
    "float64_list",
    "string_list",
    "bytes_list",
    "timestamp_list",
}


def raw(value: types_pb2.Value) -> Any:
    """A value as plain Python with timestamps left as µs (what Arrow takes
    for a ``timestamp[us]`` column)."""
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    inner = getattr(value, kind)
    if kind in _LISTS:
        return list(inner.values)
    return inner


def python(value: types_pb2.Value) -> Any:
    """A value as plain Python, timestamps as UTC datetimes."""
    kind = value.WhichOneof("kind")
    if kind == "timestamp_value":
        return datetime_of(value.timestamp_value)
    if kind == "timestamp_list":
        return [datetime_of(t) for t in value.timestamp_list.values]
    return raw(value)


def from_raw(value: Any, data_type: pa.DataType | None) -> Any:
    """A raw value (timestamps as µs) as plain Python: timestamps (and lists
    of them) of a timestamp-typed column become UTC datetimes."""
    if value is None or data_type is None:
        return value
    if pa.types.is_timestamp(data_type):
        return datetime_of(value)
    if pa.types.is_list(data_type) and pa.types.is_timestamp(data_type.value_type):
        return [datetime_of(t) for t in value]
    return value


def column(values: Iterable[Any], data_type: pa.DataType | None) -> pa.Array:
    """An Arrow column of raw values (timestamps as µs) of the given type
    (inferred from the values when the catalog did not say)."""
    values = list(values)
    if data_type is None:
        return pa.array(values)
    return pa.array(values, type=data_type)
