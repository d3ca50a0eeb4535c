"""How many paired examples a gate needs before its verdict means anything.

Normal approximation for the paired difference: the per-example difference (source minus compressed)
has second moment equal to the discordant rate for right/wrong metrics, so the standard error of the drop
is about ``sqrt(discordant_rate / n)`` (ignoring the squared drop, which only shrinks it, so this errs on
the side of asking for more examples). A one-sided bound at level ``confidence`` then sits about
``z * sqrt(discordant_rate / n)`` from the measured drop, ``z`` being the normal quantile.

"Resolve" means that distance is at most the allowed drop. Below that, even a lossless compression would
fail ``confident-pass`` most of the time, and the gate is measuring noise. At exactly the required n a
lossless model passes about half the time; for a reliable pass budget several times more.

For graded per-example scores in [0, 1], pass the mean squared per-example difference as
``discordant_rate``: it plays the same role.
"""

from __future__ import annotations

import math

from scipy import stats as _sps

from ._checks import check_allowed_drop, check_confidence, check_positive_int, fmt_num, fmt_percent
from .intervals import Interval

__all__ = ["DEFAULT_DISCORDANT_RATE", "required_examples", "small_n_warning", "width_warning"]

# Assumed when the discordant rate is unknown, or measured as 0 (zero disagreements on a small pilot is
# not evidence of none). 5% of examples flipping is typical of 8-bit/4-bit quantization on classification
# and multiple-choice benchmarks; it errs high, so the warning errs toward asking for more data.
DEFAULT_DISCORDANT_RATE = 0.05


def _rate(discordant_rate: float | None) -> tuple[float, bool]:
    """Return (rate to use, whether the default was assumed)."""
    if discordant_rate is None:
        return DEFAULT_DISCORDANT_RATE, True
    try:
        rate = float(discordant_rate)
    except (TypeError, ValueError):
        raise ValueError(f"discordant_rate must be a number in [0, 1] or None, got {discordant_rate!r}") from None
    if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
        raise ValueError(f"discordant_rate must be in [0, 1] or None, got {discordant_rate!r}")
    if rate == 0.0:
        return DEFAULT_DISCORDANT_RATE, True
    return rate, False


def required_examples(*, allowed_drop: float, discordant_rate: float, confidence: float = 0.95) -> int:
    """Smallest n whose one-sided bound at ``confidence`` sits within ``allowed_drop`` of the estimate.

    ``n = ceil(z^2 * discordant_rate / allowed_drop^2)``. A discordant rate of 0 is replaced by
    ``DEFAULT_DISCORDANT_RATE`` (see ``small_n_warning``). An allowed drop of 0 cannot be resolved by
    any finite n and raises ``ValueError``.
    """
    allowed = check_allowed_drop(allowed_drop)
    confidence = check_confidence(confidence)
    if allowed == 0.0:
        raise ValueError(f"allowed_drop={allowed_drop!r} cannot be resolved by any finite number of examples")
    if discordant_rate is None:
        raise ValueError("discordant_rate must be a number in [0, 1], got None")
    rate, _ = _rate(discordant_rate)
    z = float(_sps.norm.ppf(confidence))
    return max(1, math.ceil(z * z * rate / (allowed * allowed) - 1e-9))


def small_n_warning(
    *,
    n: int,
    allowed_drop: float,
    discordant_rate: float | None,
    confidence: float = 0.95,
) -> str | None:
    """One sentence explaining why ``n`` examples are too few for ``allowed_drop``, or None if n suffices.

    ``discordant_rate`` is the share of examples on which the two models disagree (right/wrong), or the
    mean squared per-example difference for graded scores. When it is None or 0 the module default is
    assumed and the sentence says so, because a gate should not look well-powered merely because nobody
    measured its noise.
    """
    n = check_positive_int(n, name="n")
    allowed = check_allowed_drop(allowed_drop)
    confidence = check_confidence(confidence)
    rate, assumed = _rate(discordant_rate)
    z = float(_sps.norm.ppf(confidence))
    half_width = z * math.sqrt(rate / n)
    level = fmt_percent(confidence)
    noise = (
        f"assuming {rate:.0%} of examples flip between the models since the discordant rate is unknown"
        if assumed
        else f"at a discordant rate of {rate:.1%}"
    )
    if allowed == 0.0:
        return (
            f"n={n:,} examples cannot resolve an allowed drop of 0: the {level} confidence bound sits "
            f"about {fmt_num(half_width)} from the measured drop ({noise}), and no number of examples makes that 0"
        )
    needed = required_examples(allowed_drop=allowed, discordant_rate=rate, confidence=confidence)
    if n >= needed:
        return None
    return (
        f"n={n:,} examples cannot resolve an allowed drop of {fmt_num(allowed)}: the {level} confidence bound "
        f"sits about {fmt_num(half_width)} from the measured drop ({noise}); about {needed:,} examples would be needed"
    )


def width_warning(*, n: int, drop: float, interval: Interval, allowed_drop: float) -> str | None:
    """One sentence when the *measured* interval is too wide for the allowed drop, for any metric.

    Even a compression with no loss at all would fail ``confident-pass`` when the upper bound's distance
    from the measured drop, ``h``, exceeds the allowed drop: then the gate measures noise. Bounds shrink as
    1/sqrt(n), so about ``n (h / allowed)^2`` examples would bring ``h`` to the allowed drop (and several
    times more make a lossless pass likely). Works from the interval the verdict used, so it speaks for
    corpus metrics (macro-F1, perplexity) as well as for accuracy.
    """
    n = check_positive_int(n, name="n")
    allowed = check_allowed_drop(allowed_drop)
    reach = interval.high - drop
    level = fmt_percent(interval.confidence)
    if not math.isfinite(reach):
        return (f"n={n:,} examples cannot bound the drop from above at {level}: the two models hardly differ "
                "on any example, so the data cannot say how large a disagreement could be; score more examples")
    if reach <= allowed:
        return None
    if allowed == 0.0:
        return (f"n={n:,} examples cannot resolve an allowed drop of 0: the upper {level} confidence bound sits "
                f"{fmt_num(reach)} above the measured drop, and no number of examples makes that 0")
    needed = math.ceil(n * (reach / allowed) ** 2)
    return (f"n={n:,} examples cannot resolve an allowed drop of {fmt_num(allowed)}: the upper {level} "
            f"confidence bound sits {fmt_num(reach)} above the measured drop; about {needed:,} examples would be "
            "needed for a lossless model to pass")
