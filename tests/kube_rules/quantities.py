"""Kubernetes quantities in their canonical form, as the apiserver stores a resourceFieldRef divisor."""

from __future__ import annotations

import re
from fractions import Fraction

_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}


def canonical_quantity(text: str) -> str:
    """resource.Quantity's canonical string (what the apiserver stores and compares divisors by)."""
    match = _QUANTITY.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a quantity")
    number, suffix = Fraction(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        value = number * 1024 ** _BINARY[suffix]
        if value.denominator == 1 and abs(value) >= 1024:
            for power in range(6, 0, -1):
                if value % 1024**power == 0:
                    return f"{value // 1024**power}{_suffix_of(power)}"
        suffix = ""  # below 1024, or not a whole number of bytes: the decimal form
    elif suffix[:1] in ("e", "E"):
        value = number * Fraction(10) ** int(suffix[1:])
        return _decimal(value, exponent_form=True)
    else:
        value = number * Fraction(10) ** _DECIMAL[suffix]
    return _decimal(value, exponent_form=False)


def _suffix_of(power: int) -> str:
    return next(suffix for suffix, p in _BINARY.items() if p == power)


def _decimal(value: Fraction, *, exponent_form: bool) -> str:
    if value == 0:
        return "0"
    # The largest exponent (a multiple of 3) that leaves a whole mantissa; values below 1n round up.
    for exponent in range(18, -12, -3):
        mantissa = value / Fraction(10) ** exponent
        if mantissa.denominator == 1:
            break
    else:
        exponent, mantissa = -9, Fraction(-(-value.numerator * 10**9 // value.denominator))
    suffix = (f"e{exponent}" if exponent else "") if exponent_form else _DECIMAL_SUFFIX[exponent]
    return f"{mantissa.numerator}{suffix}"
