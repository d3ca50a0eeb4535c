"""Decision modes, kept apart from the statistics so reading a config never imports scipy."""

from __future__ import annotations

from enum import Enum


class DecisionMode(str, Enum):
    """How the gate treats uncertainty; ``stats.decision`` says what error rate each one promises."""

    ESTIMATE = "estimate"  # gate on the point estimate of the drop
    CONFIDENT_PASS = "confident-pass"  # pass only if the upper confidence bound is within the allowed drop
    CONFIDENT_FAIL = "confident-fail"  # fail only if the lower confidence bound is beyond it
