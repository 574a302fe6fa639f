"""Numbers as Rust's `str::parse` reads them, so the same terms are valid as in Anki."""

from __future__ import annotations

import math
import re
import struct

_UNSIGNED = re.compile(r"\+?[0-9]+")
_SIGNED = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(
    r"[+-]?(?:inf|infinity|nan|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?)", re.IGNORECASE
)


def parse_unsigned(text: str, bits: int) -> int | None:
    """An unsigned integer of `bits` bits (u8, u16, u32), or None."""
    if not _UNSIGNED.fullmatch(text):
        return None
    value = int(text)
    return value if value < 2**bits else None


def parse_signed(text: str, bits: int) -> int | None:
    """A signed integer of `bits` bits (i32, i64), or None."""
    if not _SIGNED.fullmatch(text):
        return None
    value = int(text)
    return value if -(2 ** (bits - 1)) <= value < 2 ** (bits - 1) else None


def parse_f32(text: str) -> float | None:
    """A single-precision float, rounded as Rust's f32 is, or None."""
    if not _FLOAT.fullmatch(text):
        return None
    return to_f32(float(text))


def to_f32(value: float) -> float:
    try:
        return float(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


def f32_as_u32(value: float) -> int:
    """Rust's `as u32` on an f32: truncate, saturate at the ends, NaN to 0."""
    if math.isnan(value):
        return 0
    if value >= 2**32:
        return 2**32 - 1
    return max(0, math.trunc(value))
