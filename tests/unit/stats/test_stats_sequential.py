"""Group-sequential boundaries: published values, the error they spend, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from pytest_compressgate.stats import GroupSequentialDesign, spent_alpha


def test_boundaries_match_published_lan_demets_values() -> None:
    # Jennison & Turnbull (2000) table 7.6-style values: one-sided 0.025, equally spaced looks
    obf = GroupSequentialDesign.build([1, 2], confidence=0.975, spending="obrien-fleming").boundaries
    assert obf == pytest.approx((2.963, 1.969), abs=2e-3)
    pocock = GroupSequentialDesign.build([1, 2, 3, 4, 5], confidence=0.975, spending="pocock").boundaries
    assert pocock == pytest.approx((2.438, 2.427, 2.410, 2.397, 2.386), abs=1.5e-2)


def test_one_look_is_the_fixed_sample_test() -> None:
    design = GroupSequentialDesign.build([500], confidence=0.95)
    assert design.boundaries == pytest.approx((sps.norm.ppf(0.95),))
    assert design.levels == pytest.approx((0.95,))


def test_boundaries_spend_exactly_alpha_under_the_null() -> None:
    # Brownian motion at the looks: the share of paths ever crossing is the designed alpha
    looks = [96, 192, 288, 384, 480, 576, 672, 768, 864, 1000]
    design = GroupSequentialDesign.build(looks, confidence=0.95)
    rng = np.random.default_rng(0)
    steps = rng.standard_normal((200_000, len(looks))) * np.sqrt(np.diff([0] + looks))
    z = steps.cumsum(axis=1) / np.sqrt(looks)
    crossed = (z >= np.array(design.boundaries)).any(axis=1).mean()
    assert crossed == pytest.approx(0.05, abs=0.002)
    assert design.boundaries[-1] > sps.norm.ppf(0.95)  # the price of the looks is paid at the end


def test_spending_functions_reach_alpha_at_the_end() -> None:
    for spending in ("pocock", "obrien-fleming"):
        values = spent_alpha(np.array([0.0, 0.25, 0.5, 1.0]), alpha=0.05, spending=spending)
        assert values[0] == 0 and values[-1] == pytest.approx(0.05) and np.all(np.diff(values) > 0)
    # O'Brien-Fleming spends far less early than Pocock, which is why it rarely stops by half the data
    assert spent_alpha(0.5, alpha=0.05, spending="obrien-fleming") < spent_alpha(0.5, alpha=0.05) / 3


def test_look_at_names_the_planned_looks() -> None:
    design = GroupSequentialDesign.build([32, 64, 100])
    assert design.look_at(64) == 1
    with pytest.raises(ValueError, match="no look is planned after 50 examples"):
        design.look_at(50)


@pytest.mark.parametrize("looks", [[], [0, 10], [10, 10], [20, 10]])
def test_bad_looks_are_refused(looks: list[int]) -> None:
    with pytest.raises(ValueError, match="looks must be increasing positive"):
        GroupSequentialDesign.build(looks)


def test_unknown_spending_is_refused() -> None:
    with pytest.raises(ValueError, match="spending must be one of pocock, obrien-fleming, got 'linear'"):
        GroupSequentialDesign.build([10, 20], spending="linear")
