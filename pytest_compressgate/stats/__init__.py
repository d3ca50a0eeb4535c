"""Statistics core of the gate: paired intervals for the drop, tests, decisions and sample sizes.

"Drop" is always source metric minus compressed metric for a higher-is-better metric (positive means the
compressed model is worse); callers negate lower-is-better metrics. Every ``confidence`` in this package
is the one-sided coverage of each bound of an ``Interval``, because gate verdicts are one-sided questions
(see ``intervals`` and ``decision``). Only numpy and scipy are used, so the core can be tested and reused
without pytest or a deep-learning framework; everything is deterministic given its seed.
"""

from __future__ import annotations

from .binary import binary_drop_interval, mcnemar_exact, score_drop_bounds, score_margin_p
from .decision import TIE_TOLERANCE, Decision, DecisionMode, Outcome, decide, within
from .intervals import (Interval, bootstrap_p_value, interval_from_drops, paired_bootstrap_drops,
                        paired_bootstrap_interval)
from .multiple import holm, holm_outcomes
from .sample_size import DEFAULT_DISCORDANT_RATE, required_examples, small_n_warning, width_warning
from .sequential import SPENDING, GroupSequentialDesign, spent_alpha
from .studentized import StudentizedBootstrap, studentized_bootstrap

__all__ = [
    "DEFAULT_DISCORDANT_RATE",
    "Decision",
    "DecisionMode",
    "GroupSequentialDesign",
    "Interval",
    "Outcome",
    "SPENDING",
    "StudentizedBootstrap",
    "TIE_TOLERANCE",
    "binary_drop_interval",
    "bootstrap_p_value",
    "decide",
    "holm",
    "holm_outcomes",
    "interval_from_drops",
    "mcnemar_exact",
    "paired_bootstrap_drops",
    "paired_bootstrap_interval",
    "required_examples",
    "score_drop_bounds",
    "score_margin_p",
    "small_n_warning",
    "spent_alpha",
    "studentized_bootstrap",
    "width_warning",
    "within",
]
