"""Reading YAML nodes (or an already parsed dict) the way serde_yaml_ng
deserializes them into fsctl's spec types: YAML 1.2 scalars (``no`` is a
string, ``0123`` is a string, any scalar reads as a string where a string
is expected), serde's wording of type errors, the path of the field and its
line and column, and the nesting and alias repetition limits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from featurestore._domain import YamlMapping, YamlTagged, duplicate_key_message, value_identity
from featurestore._rust_text import (
    I64_MAX,
    I64_MIN,
    I128_MIN,
    U32_MAX,
    U64_MAX,
    U128_MAX,
    debug_str,
    float_display,
)
from featurestore._yaml_nodes import NODES, Alias, Broken, Map, Mark, ReadError, Scalar, Seq, Void

_TAG_NULL = "tag:yaml.org,2002:null"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_FLOAT = "tag:yaml.org,2002:float"

# serde's wording of what a visitor expected and what it got.


def _invalid_type(unexpected: str, expected: str) -> ReadError:
    return ReadError(f"invalid type: {unexpected}, expected {expected}")


def _invalid_value(unexpected: str, expected: str) -> ReadError:
    return ReadError(f"invalid value: {unexpected}, expected {expected}")


def _float_unexpected(value: float) -> str:
    text = float_display(value)
    if math.isfinite(value) and "." not in text:
        text += ".0"
    return f"floating point `{text}`"


# YAML 1.2 scalars as serde_yaml_ng resolves them.

_RADIX_DIGITS = {16: "0123456789abcdefABCDEF", 8: "01234567", 2: "01", 10: "0123456789"}
_RUST_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|"
    r"(?i:inf|infinity|nan))"
)


def _from_str_radix(text: str, radix: int, low: int, high: int) -> int | None:
    """Rust's ``from_str_radix`` for an integer type of range [low, high]."""
    if text in ("", "+", "-"):
        return None
    negative = False
    if text[0] == "+":
        text = text[1:]
    elif text[0] == "-" and low < 0:
        negative, text = True, text[1:]
    if not text or any(c not in _RADIX_DIGITS[radix] for c in text):
        return None
    value = -int(text, radix) if negative else int(text, radix)
    return value if low <= value <= high else None


def _digits_but_not_number(text: str) -> bool:
    text = text[1:] if text[:1] in ("+", "-") else text
    return len(text) > 1 and text[0] == "0" and all("0" <= c <= "9" for c in text[1:])


def _parse_unsigned(text: str, high: int) -> int | None:
    rest = text[1:] if text.startswith("+") else text
    for prefix, radix in (("0x", 16), ("0o", 8), ("0b", 2)):
        if rest.startswith(prefix):
            digits = rest[2:]
            if digits[:1] in ("+", "-"):
                return None
            value = _from_str_radix(digits, radix, 0, high)
            if value is not None:
                return value
    if rest[:1] in ("+", "-") or _digits_but_not_number(text):
        return None
    return _from_str_radix(rest, 10, 0, high)


def _parse_negative(text: str, low: int, high: int) -> int | None:
    for prefix, radix in (("-0x", 16), ("-0o", 8), ("-0b", 2)):
        if text.startswith(prefix):
            value = _from_str_radix("-" + text[3:], radix, low, high)
            if value is not None:
                return value
    if _digits_but_not_number(text):
        return None
    return _from_str_radix(text, 10, low, high)


def _parse_f64(text: str) -> float | None:
    rest = text
    if text.startswith("+"):
        rest = text[1:]
        if rest[:1] in ("+", "-"):
            return None
    if rest in (".inf", ".Inf", ".INF"):
        return math.inf
    if text in ("-.inf", "-.Inf", "-.INF"):
        return -math.inf
    if text in (".nan", ".NaN", ".NAN"):
        return math.nan
    if _RUST_FLOAT.fullmatch(rest):
        value = float(rest)
        if math.isfinite(value):
            return value
    return None


def _parse_bool(text: str) -> bool | None:
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    return None


def _is_null(text: str) -> bool:
    return text in ("null", "Null", "NULL", "~")


def _visit_int(text: str) -> tuple[str, int] | None:
    value = _parse_unsigned(text, U64_MAX)
    if value is not None:
        return "u64", value
    value = _parse_negative(text, I64_MIN, I64_MAX)
    if value is not None:
        return "i64", value
    value = _parse_unsigned(text, U128_MAX)
    if value is not None:
        return "u128", value
    value = _parse_negative(text, I128_MIN, 2**127 - 1)
    if value is not None:
        return "i128", value
    return None


def _resolve_plain(text: str) -> tuple[str, Any]:
    """What an untagged plain scalar is: unit, bool, an integer, a float or
    a string."""
    if text == "" or _is_null(text):
        return "unit", None
    boolean = _parse_bool(text)
    if boolean is not None:
        return "bool", boolean
    integer = _visit_int(text)
    if integer is not None:
        return integer
    if not _digits_but_not_number(text):
        number = _parse_f64(text)
        if number is not None:
            return "f64", number
    return "str", text


def _resolve(scalar: Scalar, tagged_already: bool = False) -> tuple[str, Any]:
    """serde_yaml's ``visit_scalar``: a scalar's kind, honouring core tags."""
    text, tag = scalar.text, scalar.tag
    if tag is not None and not tagged_already:
        if tag == _TAG_BOOL:
            boolean = _parse_bool(text)
            if boolean is None:
                raise _invalid_value(f"string {debug_str(text)}", "a boolean")
            return "bool", boolean
        if tag == _TAG_INT:
            integer = _visit_int(text)
            if integer is None:
                raise _invalid_value(f"string {debug_str(text)}", "an integer")
            return integer
        if tag == _TAG_FLOAT:
            number = _parse_f64(text)
            if number is None:
                raise _invalid_value(f"string {debug_str(text)}", "a float")
            return "f64", number
        if tag == _TAG_NULL:
            if not _is_null(text):
                raise _invalid_value(f"string {debug_str(text)}", "null")
            return "unit", None
        if tag.startswith("!") and scalar.plain:
            return _resolve_plain(text)
    elif scalar.plain:
        return _resolve_plain(text)
    return "str", text


def _unexpected_kind(kind: str, value: Any) -> str:
    if kind == "unit":
        return "unit value"
    if kind == "bool":
        return f"boolean `{'true' if value else 'false'}`"
    if kind in ("u64", "i64"):
        return f"integer `{value}`"
    if kind in ("u128", "i128"):
        return f"integer `{value}` as {kind}"
    if kind == "f64":
        return _float_unexpected(value)
    return f"string {debug_str(value)}"


def _unexpected_native(value: Any) -> str:
    """What serde calls a Python value in a type error."""
    if value is None:
        return "unit value"
    if isinstance(value, bool):
        return _unexpected_kind("bool", value)
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return _float_unexpected(value)
    if isinstance(value, str):
        return f"string {debug_str(value)}"
    if isinstance(value, (list, tuple)):
        return "sequence"
    if isinstance(value, Mapping):
        return "map"
    return f"Python value of type {type(value).__name__}"


def _key_path(parent: str, key: str | None) -> str:
    """serde_yaml's path of a map value (``feature_groups[0].name``)."""
    prefix = "" if parent == "." else f"{parent}."
    return f"{prefix}{key}" if key is not None else f"{prefix}?"


def _index_path(parent: str, index: int) -> str:
    return f"{parent}[{index}]"


class Reader:
    """serde's rules for each Rust type of the spec, over YAML nodes or
    Python values."""

    def __init__(self, events: int = 0) -> None:
        self.jumps = 0
        self.jump_limit = events * 100
        self.depth = 128

    # -- plumbing

    def deref(self, node: Any) -> Any:
        while isinstance(node, Alias):
            self.jumps += 1
            if self.jumps > self.jump_limit:
                raise ReadError("repetition limit exceeded", located=True)
            node = node.target
        if isinstance(node, Broken):
            raise node.error
        return node

    def invalid_type(self, node: Any, expected: str) -> ReadError:
        """serde_yaml's type error for a YAML node."""
        if isinstance(node, Scalar):
            try:
                kind, value = _resolve(node)
            except ReadError as e:
                return e
            return _invalid_type(_unexpected_kind(kind, value), expected)
        if isinstance(node, Seq):
            return _invalid_type("sequence", expected)
        if isinstance(node, Map):
            return _invalid_type("map", expected)
        return ReadError("EOF while parsing a value", located=True)

    def nested(self, mark: Mark) -> None:
        self.depth -= 1
        if self.depth < 0:
            raise ReadError("recursion limit exceeded", mark, located=True)

    @staticmethod
    def empty(node: Any) -> bool:
        """Whether a node reads as an empty sequence or map."""
        return isinstance(node, Void) or (
            isinstance(node, Scalar) and node.plain and node.text == ""
        )

    # -- scalars

    def string(self, node: Any, path: str, expected: str = "a string") -> str:
        if not isinstance(node, NODES):
            if isinstance(node, str):
                return node
            raise _invalid_type(_unexpected_native(node), expected).locate(None, path)
        node = self.deref(node)
        if isinstance(node, Scalar):
            return node.text
        raise self.invalid_type(node, expected).locate(node.mark, path)

    def boolean(self, node: Any, path: str) -> bool:
        if not isinstance(node, NODES):
            if isinstance(node, bool):
                return node
            raise _invalid_type(_unexpected_native(node), "a boolean").locate(None, path)
        node = self.deref(node)
        if self.literal_scalar(node, _TAG_BOOL):
            value = _parse_bool(node.text)
            if value is not None:
                return value
        raise self.invalid_type(node, "a boolean").locate(node.mark, path)

    def u32(self, node: Any, path: str) -> int:
        if not isinstance(node, NODES):
            return self.native_u32(node, path)
        node = self.deref(node)
        if self.literal_scalar(node, _TAG_INT):
            value = _parse_unsigned(node.text, U64_MAX)
            if value is not None:
                if value > U32_MAX:
                    raise _invalid_value(f"integer `{value}`", "u32").locate(node.mark, path)
                return value
        raise self.invalid_type(node, "u32").locate(node.mark, path)

    @staticmethod
    def native_u32(value: Any, path: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            if 0 <= value <= U32_MAX:
                return value
            raise _invalid_value(f"integer `{value}`", "u32").locate(None, path)
        raise _invalid_type(_unexpected_native(value), "u32").locate(None, path)

    def f64(self, node: Any, path: str) -> float:
        if not isinstance(node, NODES):
            if isinstance(node, (int, float)) and not isinstance(node, bool):
                return float(node)
            raise _invalid_type(_unexpected_native(node), "f64").locate(None, path)
        node = self.deref(node)
        if self.literal_scalar(node, _TAG_FLOAT):
            value = _parse_f64(node.text)
            if value is not None:
                return value
        raise self.invalid_type(node, "f64").locate(node.mark, path)

    @staticmethod
    def literal_scalar(node: Any, tag: str) -> bool:
        """Plain scalars read as numbers and booleans; a literal block one
        only with the matching tag."""
        return isinstance(node, Scalar) and (node.plain or (node.style == "|" and node.tag == tag))

    def optional(self, read: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
        """``Option<T>``: null (or empty) is ``None``."""

        def read_optional(node: Any, path: str) -> Any:
            if not isinstance(node, NODES):
                return None if node is None else read(node, path)
            node = self.deref(node)
            if isinstance(node, Void):
                return None
            if isinstance(node, Scalar) and node.plain:
                if node.tag == _TAG_NULL:
                    if _is_null(node.text):
                        return None
                    raise _invalid_value(f"string {debug_str(node.text)}", "null")
                if node.tag is None and (node.text == "" or _is_null(node.text)):
                    return None
            return read(node, path)

        return read_optional

    # -- collections

    def sequence(self, read: Callable[[Any, str], Any]) -> Callable[[Any, str], list]:
        """``Vec<T>``: a sequence (null or empty reads as none)."""

        def read_sequence(node: Any, path: str) -> list:
            if not isinstance(node, NODES):
                if node is None:
                    return []
                if isinstance(node, (list, tuple)):
                    return [read(item, _index_path(path, i)) for i, item in enumerate(node)]
                raise _invalid_type(_unexpected_native(node), "a sequence").locate(None, path)
            node = self.deref(node)
            if isinstance(node, Seq):
                try:
                    self.nested(node.mark)
                    items = [read(v, _index_path(path, i)) for i, v in enumerate(node.items)]
                    self.depth += 1
                    return items
                except ReadError as e:
                    e.locate(node.mark, path)
                    raise
            if self.empty(node):
                return []
            raise self.invalid_type(node, "a sequence").locate(node.mark, path)

        return read_sequence

    def string_map(self, node: Any, path: str) -> dict[str, str]:
        """``BTreeMap<String, String>`` (tags): any scalar is a string."""
        if not isinstance(node, NODES):
            if node is None:
                return {}
            if not isinstance(node, Mapping):
                raise _invalid_type(_unexpected_native(node), "a map").locate(None, path)
            out = {}
            for key, value in node.items():
                text = self.string(key, path)
                out[text] = self.string(value, _key_path(path, text))
            return dict(sorted(out.items()))
        node = self.deref(node)
        if isinstance(node, Map):
            try:
                self.nested(node.mark)
                out = {}
                for key_node, value_node in node.entries:
                    key = self.string(key_node, path)
                    out[key] = self.string(value_node, _key_path(path, self.key_text(key_node)))
                self.depth += 1
                return dict(sorted(out.items()))
            except ReadError as e:
                e.locate(node.mark, path)
                raise
        if self.empty(node):
            return {}
        raise self.invalid_type(node, "a map").locate(node.mark, path)

    @staticmethod
    def key_text(key_node: Any) -> str | None:
        return key_node.text if isinstance(key_node, Scalar) else None

    def structure(self, cls: type, fields: tuple) -> Callable[[Any, str], Any]:
        """A struct with ``deny_unknown_fields``: ``fields`` are
        (YAML name, reader, required) in the Rust declaration order."""
        by_name = {name: (read, required) for name, read, required in fields}
        names = [name for name, _, _ in fields]
        expected = f"struct {cls.__name__}"

        def read_structure(node: Any, path: str) -> Any:
            entries, mark, nested = self.entries(node, path, expected)
            try:
                if nested:
                    self.nested(mark)
                values = self.fields(entries, path, by_name, names)
                if nested:
                    self.depth += 1
            except ReadError as e:
                e.locate(mark, path)
                raise
            return cls(**values)

        return read_structure

    def entries(self, node: Any, path: str, expected: str) -> tuple[list, Mark | None, bool]:
        """A struct's (key, value) entries, where they start, and whether
        they are a YAML mapping (which counts towards the nesting limit)."""
        if not isinstance(node, NODES):
            if node is None:
                return [], None, False
            if isinstance(node, Mapping):
                return list(node.items()), None, False
            raise _invalid_type(_unexpected_native(node), expected).locate(None, path)
        node = self.deref(node)
        if isinstance(node, Map):
            return node.entries, node.mark, True
        if self.empty(node):
            return [], node.mark, False
        raise self.invalid_type(node, expected).locate(node.mark, path)

    def fields(self, entries: list, path: str, by_name: dict, names: list) -> dict:
        """A struct's field values by name (serde's derived visitor)."""
        values: dict[str, Any] = {}
        for key_node, value_node in entries:
            name = self.field_name(key_node, path, names)
            if name in values:
                raise ReadError(f"duplicate field `{name}`")
            read, _ = by_name[name]
            values[name] = read(value_node, _key_path(path, name))
        for name in names:
            if name not in values and by_name[name][1]:
                raise ReadError(f"missing field `{name}`")
        return values

    def field_name(self, key_node: Any, path: str, names: list) -> str:
        """A struct's key, which must be one of its fields."""
        name = self.string(key_node, path, expected="field identifier")
        if name not in names:
            quoted = [f"`{n}`" for n in names]
            listed = " or ".join(quoted) if len(names) <= 2 else "one of " + ", ".join(quoted)
            mark = key_node.mark if isinstance(key_node, Scalar) else None
            raise ReadError(f"unknown field `{name}`, expected {listed}").locate(mark, path)
        return name

    # -- any value (a feature's default)

    def value(self, node: Any, path: str, tagged_already: bool = False) -> Any:
        """``serde_yaml::Value``: whatever the YAML holds."""
        if not isinstance(node, NODES):
            return self.native_value(node, path)
        node = self.deref(node)
        if isinstance(node, Void):
            return None
        tag = node.tag if not tagged_already else None
        if tag is not None and tag.startswith("!"):
            inner = self.value(node, path, tagged_already=True)
            return YamlTagged(tag[1:] or "!", inner)
        try:
            if isinstance(node, Scalar):
                return self.scalar_value(node, tagged_already)
            self.nested(node.mark)
            if isinstance(node, Seq):
                out = [self.value(v, _index_path(path, i)) for i, v in enumerate(node.items)]
            else:
                out = self.mapping_value(node, path)
            self.depth += 1
            return out
        except ReadError as e:
            e.locate(node.mark, path)
            raise

    @staticmethod
    def scalar_value(node: Scalar, tagged_already: bool) -> Any:
        kind, value = _resolve(node, tagged_already)
        if kind in ("u128", "i128"):
            raise _invalid_type(_unexpected_kind(kind, value), "any YAML value")
        return value

    def mapping_value(self, node: Map, path: str) -> YamlMapping:
        entries: list[tuple[Any, Any]] = []
        seen: set = set()
        for key_node, value_node in node.entries:
            key = self.value(key_node, path)
            identity = value_identity(key)
            if identity in seen:
                raise ReadError(duplicate_key_message(key))
            seen.add(identity)
            text = key_node.text if isinstance(key_node, Scalar) else None
            entries.append((key, self.value(value_node, _key_path(path, text))))
        return YamlMapping(tuple(entries))

    def native_value(self, value: Any, path: str) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (list, tuple)):
            return [self.native_value(v, _index_path(path, i)) for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            return YamlMapping(
                tuple(
                    (self.native_value(k, path), self.native_value(v, _key_path(path, str(k))))
                    for k, v in value.items()
                )
            )
        if isinstance(value, (YamlMapping, YamlTagged)):
            return value
        raise ReadError(
            f"invalid type: {_unexpected_native(value)}, expected any YAML value"
        ).locate(None, path)
