"""Holm on verdicts and the width-based small-n warning."""

from __future__ import annotations

import pytest

from pytest_compressgate.stats import Interval, Outcome, holm_outcomes, width_warning


def test_holm_outcomes_step_down_per_side() -> None:
    # pass side: 0.004 <= 0.05/3, 0.02 <= 0.05/2, 0.3 > 0.05: two passes; the third fails on its own side
    outcomes = holm_outcomes([0.02, 0.004, 0.3], [0.98, 0.99, 0.001], alpha=0.05)
    assert outcomes == [Outcome.PASS, Outcome.PASS, Outcome.FAIL]
    assert holm_outcomes([0.03, 0.03], [0.9, 0.9], alpha=0.05) == [Outcome.INCONCLUSIVE] * 2
    with pytest.raises(ValueError, match="one pass-side and one fail-side p-value per task"):
        holm_outcomes([0.1], [], alpha=0.05)


def test_width_warning_speaks_for_any_metric() -> None:
    wide = Interval(-0.3, 0.335, 0.95, "bootstrap-t")  # perplexity at n=50: allowed 0.2 ppl
    text = width_warning(n=50, drop=0.0, interval=wide, allowed_drop=0.2)
    assert text is not None and "n=50 examples cannot resolve an allowed drop of 0.200" in text
    assert "sits 0.335 above the measured drop; about 141 examples" in text
    assert width_warning(n=500, drop=0.0, interval=Interval(-0.1, 0.1, 0.95, "x"), allowed_drop=0.2) is None
    unbounded = width_warning(n=20, drop=0.0, interval=Interval(-float("inf"), float("inf"), 0.95, "x"),
                              allowed_drop=0.2)
    assert unbounded is not None and "cannot bound the drop from above" in unbounded
