"""Decision modes and the inconclusive policy, kept apart from the statistics so reading a config never
imports scipy."""

from __future__ import annotations

from enum import Enum


class DecisionMode(str, Enum):
    """How the gate treats uncertainty; ``stats.decision`` says what error rate each one promises."""

    ESTIMATE = "estimate"  # gate on the point estimate of the drop
    CONFIDENT_PASS = "confident-pass"  # pass only if the upper confidence bound is within the allowed drop
    CONFIDENT_FAIL = "confident-fail"  # fail only if the lower confidence bound is beyond it


class Outcome(str, Enum):
    """What the data say about the drop: within budget, over it, or not enough examples to tell."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"  # confident modes only: the interval straddles the allowed drop


class Inconclusive(str, Enum):
    """What an INCONCLUSIVE verdict does to the build (the ``inconclusive`` threshold key)."""

    FAIL = "fail"
    PASS = "pass"


def default_inconclusive(mode: DecisionMode) -> Inconclusive:
    """confident-pass demands evidence of a pass, so doubt fails; confident-fail demands evidence of a
    failure, so doubt passes. This keeps each mode's promised error rate when the key is not set."""
    return Inconclusive.PASS if mode is DecisionMode.CONFIDENT_FAIL else Inconclusive.FAIL
