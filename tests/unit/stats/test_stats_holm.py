from __future__ import annotations

import itertools

import pytest

from pytest_compressgate.stats import holm


def _holm_by_definition(pvalues: list[float]) -> list[float]:
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def test_holm_textbook_example() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone: 0.06 for the last
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_keeps_input_order() -> None:
    assert holm([0.9, 0.2, 0.6]) == pytest.approx([1.0, 0.6, 1.0])


def test_holm_matches_definition_and_is_monotone() -> None:
    for pvalues in itertools.product([0.001, 0.02, 0.02, 0.3, 0.7], repeat=3):
        adjusted = holm(list(pvalues))
        assert adjusted == pytest.approx(_holm_by_definition(list(pvalues)))
        for (p1, a1), (p2, a2) in itertools.combinations(zip(pvalues, adjusted), 2):
            if p1 < p2:
                assert a1 <= a2
        assert all(a >= p for a, p in zip(adjusted, pvalues))


def test_holm_edge_cases() -> None:
    assert holm([]) == []
    assert holm([0.04]) == [0.04]


@pytest.mark.parametrize("bad", [[0.1, 1.2], [-0.01], [float("nan")], ["x"]])
def test_holm_rejects_invalid_pvalues(bad: list) -> None:
    with pytest.raises(ValueError, match="index"):
        holm(bad)
