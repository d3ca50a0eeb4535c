"""Input checks and number formatting shared by the stats modules.

Every check raises ``ValueError`` naming the bad value, because these functions sit behind a CI gate:
a silent NaN or a mis-sized array would turn into a wrong pass/fail verdict rather than a crash.
"""

from __future__ import annotations

import math
import operator

import numpy as np


def check_confidence(confidence: float, *, name: str = "confidence") -> float:
    """Return ``confidence`` as a float strictly inside (0, 1); 0 or 1 would make every bound infinite or empty."""
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 1), got {confidence!r}") from None
    if not 0.0 < value < 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in (0, 1), got {confidence!r}")
    return value


def check_allowed_drop(allowed_drop: float) -> float:
    """Return the allowed drop as a finite non-negative float; a negative budget would demand an improvement."""
    try:
        value = float(allowed_drop)
    except (TypeError, ValueError):
        raise ValueError(f"allowed_drop must be a non-negative number, got {allowed_drop!r}") from None
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"allowed_drop must be a finite number >= 0, got {allowed_drop!r}")
    return value


def check_finite(value: float, *, name: str) -> float:
    """Return ``value`` as a finite float; NaN drops come from empty slices or broken metrics and must not gate."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return out


def check_positive_int(value: int, *, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``; bools and floats are refused so a typo cannot become a count."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        out = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if out < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return out


def as_binary(values: object, *, name: str) -> np.ndarray:
    """Return a 1-D bool array; accepts bools or 0/1 numbers and names the first value that is neither."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of per-example correctness, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: at least one example is needed")
    if arr.dtype == bool:
        return arr
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must hold booleans or 0/1, got dtype {arr.dtype}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must hold booleans or 0/1, got {arr[i].item()!r} at index {i}")
    return arr.astype(bool)


def paired_binary(source_correct: object, compressed_correct: object) -> tuple[int, int, int]:
    """Return (b, c, n): source-only-correct count, compressed-only-correct count and the number of pairs."""
    src = as_binary(source_correct, name="source_correct")
    cmp_ = as_binary(compressed_correct, name="compressed_correct")
    if src.shape != cmp_.shape:
        raise ValueError(
            "source_correct and compressed_correct must be paired (same length), "
            f"got lengths {src.size} and {cmp_.size}"
        )
    b = int(np.count_nonzero(src & ~cmp_))
    c = int(np.count_nonzero(~src & cmp_))
    return b, c, int(src.size)


def fmt_pair(x: float, ref: float) -> tuple[str, str]:
    """Format two numbers with 3 decimals, or more when 3 would print different numbers as the same text.

    A reason like "0.010 is above the allowed drop 0.010" would read as a bug, so decimals are added
    until the two differ (up to 8).
    """
    for digits in range(3, 9):
        a, b = f"{x + 0.0:.{digits}f}", f"{ref + 0.0:.{digits}f}"
        if a != b or x == ref:
            break
    return _no_negative_zero(a), _no_negative_zero(b)


def fmt_num(x: float) -> str:
    """Three decimals for ordinary drops, two significant digits below 0.01 so 0.0005 does not print as 0.001."""
    return f"{x + 0.0:.3f}" if x == 0 or abs(x) >= 0.01 else f"{x:.2g}"


def fmt_percent(confidence: float) -> str:
    """Render 0.95 as "95%" and 0.975 as "97.5%" for reasons and warnings."""
    return f"{round(confidence * 100, 6):g}%"


def _no_negative_zero(text: str) -> str:
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text
