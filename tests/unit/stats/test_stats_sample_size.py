from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from pytest_compressgate.stats import DEFAULT_DISCORDANT_RATE, required_examples, small_n_warning


def test_required_examples_follows_the_normal_approximation() -> None:
    z = norm.ppf(0.95)
    assert required_examples(allowed_drop=0.01, discordant_rate=0.03) == math.ceil(z * z * 0.03 / 0.01**2)
    assert required_examples(allowed_drop=0.01, discordant_rate=0.03, confidence=0.975) == 1153
    # halving the budget needs four times the examples
    assert required_examples(allowed_drop=0.005, discordant_rate=0.03) == pytest.approx(
        4 * required_examples(allowed_drop=0.01, discordant_rate=0.03), rel=1e-2
    )


def test_small_n_warning_explains_small_samples() -> None:
    text = small_n_warning(n=120, allowed_drop=0.01, discordant_rate=0.03)
    assert text is not None
    assert text.startswith("n=120 examples cannot resolve an allowed drop of 0.010")
    assert "about 0.026" in text and "about 812 examples would be needed" in text


def test_small_n_warning_is_none_when_n_suffices() -> None:
    needed = required_examples(allowed_drop=0.01, discordant_rate=0.03)
    assert small_n_warning(n=needed, allowed_drop=0.01, discordant_rate=0.03) is None
    assert small_n_warning(n=50_000, allowed_drop=0.01, discordant_rate=None) is None
    assert small_n_warning(n=needed - 1, allowed_drop=0.01, discordant_rate=0.03) is not None


@pytest.mark.parametrize("rate", [None, 0.0])
def test_small_n_warning_says_when_it_assumes_the_discordant_rate(rate: float | None) -> None:
    text = small_n_warning(n=100, allowed_drop=0.01, discordant_rate=rate)
    assert text is not None and "unknown" in text and f"{DEFAULT_DISCORDANT_RATE:.0%}" in text
    expected = required_examples(allowed_drop=0.01, discordant_rate=DEFAULT_DISCORDANT_RATE)
    assert f"about {expected:,} examples" in text


def test_zero_allowed_drop_never_suffices() -> None:
    assert "no number of examples" in small_n_warning(n=10**6, allowed_drop=0.0, discordant_rate=0.01)
    with pytest.raises(ValueError, match="allowed_drop=0.0"):
        required_examples(allowed_drop=0.0, discordant_rate=0.01)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"allowed_drop": -0.01}, "got -0.01"),
        ({"discordant_rate": 1.5}, "discordant_rate must be in .* got 1.5"),
        ({"confidence": 0.0}, r"confidence must be in \(0, 1\), got 0.0"),
        ({"n": 0}, "n must be an integer >= 1, got 0"),
    ],
)
def test_small_n_warning_rejects_bad_input(kwargs: dict, match: str) -> None:
    args = {"n": 100, "allowed_drop": 0.01, "discordant_rate": 0.03, **kwargs}
    with pytest.raises(ValueError, match=match):
        small_n_warning(**args)
