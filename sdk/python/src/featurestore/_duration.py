"""Durations as humantime's ``parse_duration`` reads them (``30d``,
``1h 30m``, ``1.5h``): a literal port, with humantime's error messages.
"""

from __future__ import annotations

from featurestore._rust_text import RUST_WHITESPACE, U64_MAX, debug_str


class DurationError(ValueError):
    """A duration humantime would not read; the message is humantime's."""


_DURATION_UNITS = {
    **dict.fromkeys(("nanos", "nsec", "ns"), "ns"),
    **dict.fromkeys(("usec", "us", "\u00b5s"), "us"),
    **dict.fromkeys(("millis", "msec", "ms"), "ms"),
    **dict.fromkeys(("seconds", "second", "secs", "sec", "s"), 1),
    **dict.fromkeys(("minutes", "minute", "min", "mins", "m"), 60),
    **dict.fromkeys(("hours", "hour", "hr", "hrs", "h"), 3600),
    **dict.fromkeys(("days", "day", "d"), 86_400),
    **dict.fromkeys(("weeks", "week", "wk", "wks", "w"), 7 * 86_400),
    **dict.fromkeys(("months", "month", "M"), 2_630_016),  # 30.44 days
    **dict.fromkeys(("years", "year", "yr", "yrs", "y"), 31_557_600),  # 365.25 days
}
# Nanoseconds per unit below a second, for the integer and fractional parts.
_SUBSECOND = {"ns": 1, "us": 1000, "ms": 1_000_000}
_OVERFLOW = (
    "number is too large or cannot be represented without a lack of precision "
    "(values below 1ns are not supported)"
)


def _checked(value: int) -> int:
    if value > U64_MAX:
        raise DurationError(_OVERFLOW)
    return value


def _exact_div(numerator: int, denominator: int) -> int:
    if numerator % denominator:
        raise DurationError(_OVERFLOW)
    return numerator // denominator


def _is_unit_char(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ch == "\u00b5"


class _DurationParser:
    """A literal port of humantime 2.x's parser (offsets are in bytes)."""

    def __init__(self, text: str) -> None:
        self.src = text
        self.chars = list(text)
        self.offsets = [0]
        for ch in self.chars:
            self.offsets.append(self.offsets[-1] + len(ch.encode("utf-8")))
        self.pos = 0
        self.secs = 0
        self.nanos = 0

    def off(self) -> int:
        return self.offsets[self.pos]

    def next(self) -> str | None:
        if self.pos >= len(self.chars):
            return None
        self.pos += 1
        return self.chars[self.pos - 1]

    def first_digit(self) -> int | None:
        off = self.off()
        while (ch := self.next()) is not None:
            if "0" <= ch <= "9":
                return ord(ch) - 48
            if ch not in RUST_WHITESPACE:
                raise DurationError(f"expected number at {off}")
        return None

    def fraction(self, off: int) -> tuple[tuple[int, int], int]:
        numerator, denominator, zeros = 0, 1, True
        while (ch := self.next()) is not None:
            if ch == "0":
                denominator = _checked(denominator * 10)
                if not zeros:
                    numerator = _checked(numerator * 10)
            elif "1" <= ch <= "9":
                zeros = False
                denominator = _checked(denominator * 10)
                numerator = _checked(numerator * 10 + ord(ch) - 48)
            elif ch in RUST_WHITESPACE:
                pass
            elif _is_unit_char(ch):
                break
            else:
                raise DurationError(f"invalid character at {off}")
            off = self.off()
        if denominator == 1:
            raise DurationError(f"invalid character at {off}")
        return (numerator, denominator), off

    def add(self, secs: int, nanos: int) -> None:
        nanos = _checked(self.nanos + nanos)
        if nanos > 1_000_000_000:
            secs = _checked(secs + nanos // 1_000_000_000)
            nanos %= 1_000_000_000
        secs = _checked(self.secs + secs)
        # Duration::new carries whole seconds out of the nanoseconds.
        self.secs = _checked(secs + nanos // 1_000_000_000)
        self.nanos = nanos % 1_000_000_000

    def unit(self, n: int, frac: tuple[int, int] | None, start: int, end: int) -> None:
        text = self.src.encode("utf-8")[start:end].decode("utf-8")
        unit = _DURATION_UNITS.get(text)
        if unit is None:
            if not text:
                raise DurationError(f"time unit needed, for example {n}sec or {n}ms")
            raise DurationError(
                f"unknown time unit {debug_str(text)}, supported units: ns, us/\u00b5s, ms, "
                "sec, min, hours, days, weeks, months, years (and few variations)"
            )
        if isinstance(unit, str):
            self.add(0, _checked(n * _SUBSECOND[unit]))
        else:
            self.add(_checked(n * unit), 0)
        if frac is None:
            return
        numerator, denominator = frac
        if unit == "ns":
            raise DurationError(_OVERFLOW)
        if isinstance(unit, str):
            self.add(0, _exact_div(_checked(numerator * _SUBSECOND[unit]), denominator))
        elif unit in (1, 60):
            nanos = _checked(numerator * unit * 1_000_000_000)
            self.add(0, _exact_div(nanos, denominator))
        else:
            self.add(_exact_div(_checked(numerator * unit), denominator), 0)

    def parse(self) -> tuple[int, int]:
        n = self.first_digit()
        if n is None:
            raise DurationError("value was empty")
        while True:
            frac = None
            off = self.off()
            while (ch := self.next()) is not None:
                if "0" <= ch <= "9":
                    n = _checked(n * 10 + ord(ch) - 48)
                elif ch in RUST_WHITESPACE:
                    pass
                elif _is_unit_char(ch):
                    break
                elif ch == ".":
                    frac, off = self.fraction(off)
                    break
                else:
                    raise DurationError(f"invalid character at {off}")
                off = self.off()
            start = off
            off = self.off()
            next_number = None
            while (ch := self.next()) is not None:
                if "0" <= ch <= "9":
                    next_number = ord(ch) - 48
                    break
                if ch in RUST_WHITESPACE:
                    break
                if not _is_unit_char(ch):
                    raise DurationError(f"invalid character at {off}")
                off = self.off()
            self.unit(n, frac, start, off)
            if next_number is not None:
                n = next_number
                continue
            n = self.first_digit()
            if n is None:
                return self.secs, self.nanos


def parse_duration(text: str) -> tuple[int, int]:
    """A duration like ``30d``, ``1h 30m`` or ``1.5h`` as (seconds,
    nanoseconds), read exactly as humantime reads it (units ns, us, ms, s,
    m, h, d, w, M = 30.44 d, y = 365.25 d and their long names). Raises
    :class:`DurationError` with humantime's message."""
    if text == "0":
        return 0, 0
    return _DurationParser(text).parse()
