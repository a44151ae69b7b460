"""The parts of the Rust domain library (``featurestore_domain``) the spec
conversion needs: scalar and value type names (``int64``,
``list<float32>``), aggregation function names, and YAML values
(``serde_yaml::Value`` as Python) converted to protobuf ``Value``s.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from featurestore._rust_text import (
    I32_MAX,
    I32_MIN,
    I64_MAX,
    I64_MIN,
    debug_str,
    float_ryu,
    rust_trim,
)
from featurestore.errors import SpecError
from featurestore.v1 import catalog_pb2, types_pb2

# ---------------------------------------------------------------------------
# Value types (featurestore_domain::types).

_SCALAR_NAMES = {
    types_pb2.SCALAR_TYPE_UNSPECIFIED: "unspecified",
    types_pb2.SCALAR_TYPE_BOOL: "bool",
    types_pb2.SCALAR_TYPE_INT32: "int32",
    types_pb2.SCALAR_TYPE_INT64: "int64",
    types_pb2.SCALAR_TYPE_FLOAT32: "float32",
    types_pb2.SCALAR_TYPE_FLOAT64: "float64",
    types_pb2.SCALAR_TYPE_STRING: "string",
    types_pb2.SCALAR_TYPE_BYTES: "bytes",
    types_pb2.SCALAR_TYPE_TIMESTAMP: "timestamp",
}
_SCALARS_BY_NAME = {name: scalar for scalar, name in _SCALAR_NAMES.items() if name != "unspecified"}


def scalar_name(scalar: int) -> str:
    """The text form of a scalar type (``int64``); ``unspecified`` for an
    unknown one."""
    return _SCALAR_NAMES.get(scalar, "unspecified")


def parse_scalar(text: str) -> int | None:
    """The ``ScalarType`` a name like ``int64`` or ``string`` stands for."""
    return _SCALARS_BY_NAME.get(text)


def type_name(ty: types_pb2.ValueType) -> str:
    """The text form of a value type: ``int64`` or ``list<float32>``."""
    scalar = scalar_name(ty.scalar)
    return f"list<{scalar}>" if ty.is_list else scalar


def parse_type(text: str) -> types_pb2.ValueType | None:
    """Parses ``int64`` or ``list<float32>``; ``None`` when unknown."""
    text = rust_trim(text)
    is_list = text.startswith("list<") and text[len("list<") :].endswith(">")
    inner = rust_trim(text[len("list<") : -1]) if is_list else text
    scalar = parse_scalar(inner)
    if scalar is None:
        return None
    return types_pb2.ValueType(scalar=scalar, is_list=is_list)


# ---------------------------------------------------------------------------
# Aggregation functions (featurestore_domain::aggregation).

_FUNCTIONS = (
    (catalog_pb2.AGGREGATION_FUNCTION_COUNT, "count"),
    (catalog_pb2.AGGREGATION_FUNCTION_SUM, "sum"),
    (catalog_pb2.AGGREGATION_FUNCTION_MIN, "min"),
    (catalog_pb2.AGGREGATION_FUNCTION_MAX, "max"),
    (catalog_pb2.AGGREGATION_FUNCTION_MEAN, "mean"),
    (catalog_pb2.AGGREGATION_FUNCTION_VARIANCE, "variance"),
    (catalog_pb2.AGGREGATION_FUNCTION_STDDEV, "stddev"),
    (catalog_pb2.AGGREGATION_FUNCTION_FIRST, "first"),
    (catalog_pb2.AGGREGATION_FUNCTION_LAST, "last"),
    (catalog_pb2.AGGREGATION_FUNCTION_LAST_K, "last_k"),
    (catalog_pb2.AGGREGATION_FUNCTION_APPROX_DISTINCT, "approx_distinct"),
    (catalog_pb2.AGGREGATION_FUNCTION_APPROX_PERCENTILE, "approx_percentile"),
)


def function_name(function: int) -> str:
    """The spec name of an ``AggregationFunction`` (``count``, ``last_k``)."""
    return next((n for f, n in _FUNCTIONS if f == function), "unspecified")


def parse_function(name: str) -> int | None:
    """The ``AggregationFunction`` a spec names; ``None`` when unknown."""
    return next((f for f, n in _FUNCTIONS if n == name), None)


def function_names() -> str:
    """Every function name, for messages: ``count, sum, ...``."""
    return ", ".join(n for _, n in _FUNCTIONS)


# ---------------------------------------------------------------------------
# YAML values (serde_yaml_ng::Value) as Python: None, bool, int, float, str,
# list, and for the rare mapping or tagged value the two classes below.


@dataclass(frozen=True)
class YamlMapping:
    """A YAML mapping read where any value is allowed (a feature's
    ``default``): its entries in order."""

    entries: tuple[tuple[Any, Any], ...]


@dataclass(frozen=True)
class YamlTagged:
    """A value with a local tag, like ``!point [1, 2]``."""

    tag: str
    value: Any


def _untag(value: Any) -> Any:
    while isinstance(value, YamlTagged):
        value = value.value
    return value


def _value_debug(value: Any) -> str:
    """``{:?}`` of a serde_yaml Value, as fsctl's messages show it."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return f"Bool({'true' if value else 'false'})"
    if isinstance(value, (int, float)):
        return f"Number({_number_display(value)})"
    if isinstance(value, str):
        return f"String({debug_str(value)})"
    if isinstance(value, list):
        return "Sequence [" + ", ".join(_value_debug(v) for v in value) + "]"
    if isinstance(value, YamlMapping):
        entries = ", ".join(f"{_key_debug(k)}: {_value_debug(v)}" for k, v in value.entries)
        return "Mapping {" + entries + "}"
    if isinstance(value, YamlTagged):
        return f"TaggedValue {{ tag: !{value.tag}, value: {_value_debug(value.value)} }}"
    return repr(value)


def _number_display(value: int | float) -> str:
    return str(value) if isinstance(value, int) else float_ryu(value)


def _key_debug(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, (int, float)):
        return _number_display(key)
    if isinstance(key, str):
        return debug_str(key)
    return _value_debug(key)


def value_identity(value: Any) -> Any:
    """A hashable stand-in for a YAML value (``true`` differs from ``1``)."""
    if isinstance(value, list):
        return ("seq", tuple(value_identity(v) for v in value))
    if isinstance(value, YamlMapping):
        return ("map", tuple((value_identity(k), value_identity(v)) for k, v in value.entries))
    if isinstance(value, YamlTagged):
        return ("tag", value.tag, value_identity(value.value))
    return (type(value).__name__, value)


def duplicate_key_message(key: Any) -> str:
    """serde_yaml's error for a key a mapping value repeats."""
    if key is None:
        return "duplicate entry with null key"
    if isinstance(key, bool):
        return f"duplicate entry with key `{'true' if key else 'false'}`"
    if isinstance(key, (int, float)):
        return f"duplicate entry with key {_number_display(key)}"
    if isinstance(key, str):
        return f"duplicate entry with key {debug_str(key)}"
    return "duplicate entry in YAML map"


def _as_i64(value: Any) -> int | None:
    value = _untag(value)
    if isinstance(value, int) and not isinstance(value, bool) and I64_MIN <= value <= I64_MAX:
        return value
    return None


def _as_i32(value: Any) -> int | None:
    n = _as_i64(value)
    return n if n is not None and I32_MIN <= n <= I32_MAX else None


def _as_f64(value: Any) -> float | None:
    value = _untag(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _as_f32(value: Any) -> float | None:
    """``f64 as f32``: rounded to the nearest float32, infinite beyond."""
    f = _as_f64(value)
    if f is None:
        return None
    try:
        return struct.unpack("<f", struct.pack("<f", f))[0]
    except OverflowError:
        return math.copysign(math.inf, f)


def _as_bool(value: Any) -> bool | None:
    value = _untag(value)
    return value if isinstance(value, bool) else None


def _as_str(value: Any) -> str | None:
    value = _untag(value)
    return value if isinstance(value, str) else None


def _as_bytes(value: Any) -> bytes | None:
    text = _as_str(value)
    return None if text is None else text.encode("utf-8")


# For each scalar type: how one YAML value converts, and the Value field
# names of a single value and of a list.
_CONVERSIONS: dict[int, tuple[Callable[[Any], Any], str, str]] = {
    types_pb2.SCALAR_TYPE_BOOL: (_as_bool, "bool_value", "bool_list"),
    types_pb2.SCALAR_TYPE_INT32: (_as_i32, "int32_value", "int32_list"),
    types_pb2.SCALAR_TYPE_INT64: (_as_i64, "int64_value", "int64_list"),
    types_pb2.SCALAR_TYPE_TIMESTAMP: (_as_i64, "timestamp_value", "timestamp_list"),
    types_pb2.SCALAR_TYPE_FLOAT32: (_as_f32, "float32_value", "float32_list"),
    types_pb2.SCALAR_TYPE_FLOAT64: (_as_f64, "float64_value", "float64_list"),
    types_pb2.SCALAR_TYPE_STRING: (_as_str, "string_value", "string_list"),
    types_pb2.SCALAR_TYPE_BYTES: (_as_bytes, "bytes_value", "bytes_list"),
}
_LIST_MESSAGES = {
    "bool_list": types_pb2.BoolList,
    "int32_list": types_pb2.Int32List,
    "int64_list": types_pb2.Int64List,
    "timestamp_list": types_pb2.TimestampList,
    "float32_list": types_pb2.Float32List,
    "float64_list": types_pb2.Float64List,
    "string_list": types_pb2.StringList,
    "bytes_list": types_pb2.BytesList,
}


def value_of(ty: types_pb2.ValueType, value: Any) -> types_pb2.Value:
    """A YAML value (scalar or list) as a protobuf ``Value`` of type ``ty``;
    ``None`` (YAML null) is the null value. Raises :class:`SpecError` like
    ``Number(1.5) is not a int64``."""
    if _untag(value) is None:
        return types_pb2.Value(null_value=types_pb2.NULL_VALUE)
    wrong = SpecError(f"{_value_debug(value)} is not a {type_name(ty)}")
    if ty.scalar not in _CONVERSIONS:
        raise wrong
    convert, single, plural = _CONVERSIONS[ty.scalar]
    if ty.is_list:
        if not isinstance(value, list):
            raise wrong
        items = [convert(v) for v in value]
        if any(v is None for v in items):
            raise wrong
        return types_pb2.Value(**{plural: _LIST_MESSAGES[plural](values=items)})
    converted = convert(value)
    if converted is None:
        raise wrong
    return types_pb2.Value(**{single: converted})
