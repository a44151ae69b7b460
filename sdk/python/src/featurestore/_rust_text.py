"""Rust's conventions that ``fsctl``'s messages and readers follow, for the
spec reader to reproduce them: strings as ``{:?}`` prints them, floats as
``{}`` and as serde_yaml (ryu) prints them, Rust's white space, and the
ranges of Rust's integer types.
"""

from __future__ import annotations

import math
import unicodedata

# ---------------------------------------------------------------------------
# The ranges of Rust's integer types.

U32_MAX = 2**32 - 1
I32_MIN, I32_MAX = -(2**31), 2**31 - 1
U64_MAX = 2**64 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
U128_MAX = 2**128 - 1
I128_MIN = -(2**127)


def wrap_i64(value: int) -> int:
    """``u64 as i64``."""
    return value - 2**64 if value > I64_MAX else value


# ---------------------------------------------------------------------------
# Text as Rust prints it (fsctl's messages use `{:?}` of strings).

# Rust's `char::is_whitespace` (Unicode White_Space).
RUST_WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_DEBUG_ESCAPES = {"\0": "\\0", "\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"'}


def rust_trim(text: str) -> str:
    """``str::trim``: strips Unicode white space (Rust's definition)."""
    start, end = 0, len(text)
    while start < end and text[start] in RUST_WHITESPACE:
        start += 1
    while end > start and text[end - 1] in RUST_WHITESPACE:
        end -= 1
    return text[start:end]


def debug_str(text: str) -> str:
    """A string as Rust's ``{:?}`` prints it: double quotes, escapes
    (``\\u{200b}`` for what is not printable or combines with the
    character before)."""
    out = []
    for ch in text:
        if ch in _DEBUG_ESCAPES:
            out.append(_DEBUG_ESCAPES[ch])
        elif (ch != " " and not ch.isprintable()) or _grapheme_extend(ch):
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _grapheme_extend(ch: str) -> bool:
    """Roughly Unicode's Grapheme_Extend: combining marks (and ZWNJ)."""
    return unicodedata.category(ch) in ("Mn", "Me") or ch == "\u200c"


def _shortest_digits(value: float) -> tuple[str, int]:
    """The shortest digits that read back as ``abs(value)`` and the position
    of the decimal point: ``0.0125`` is ``("125", -1)``."""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + (int(exponent) if exponent else 0)
    point -= len(whole + fraction) - len((whole + fraction).lstrip("0"))
    digits = digits.rstrip("0") or "0"
    if digits == "0":
        point = 1
    return digits, point


def float_display(value: float) -> str:
    """Rust's ``{}`` of an f64: plain decimal notation, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    digits, point = _shortest_digits(value)
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def float_ryu(value: float) -> str:
    """How serde_yaml prints a float number (ryu's format)."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return f"{sign}0.0"
    digits, point = _shortest_digits(value)
    length = len(digits)
    exponent = point - length  # the power of ten of the last digit
    if 0 <= exponent and point <= 16:
        return f"{sign}{digits}{'0' * exponent}.0"
    if 0 < point <= 16:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    if -5 < point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if length == 1:
        return f"{sign}{digits}e{point - 1}"
    return f"{sign}{digits[0]}.{digits[1:]}e{point - 1}"
