"""Assertion helpers for custom benchmark tests. Their failure message is the result's own report."""

from __future__ import annotations

from collections.abc import Sequence

from .result import GateResult


class GateFailure(AssertionError):
    """A compression regression; carries the result so reports can show its numbers."""

    def __init__(self, comparison: GateResult) -> None:
        super().__init__(comparison.message())
        self.comparison = comparison


def assert_no_regression(comparison: GateResult) -> GateResult:
    """Fail with the comparison's numbers (scores, drop, interval, allowed drop, n, what to do next)."""
    __tracebackhide__ = True
    if not comparison.passed:
        raise GateFailure(comparison)
    return comparison


def assert_scores_no_regression(
    source_scores: Sequence[float],
    compressed_scores: Sequence[float],
    *,
    task: str = "custom",
    target: str = "custom",
    max_drop: float = 0.0,
    decision: str = "estimate",
    confidence: float = 0.95,
    min_score: float | None = None,
    seed: int = 0,
) -> GateResult:
    """Gate a custom scorer: per-example scores (higher is better) of the source and compressed models.

    >>> assert_scores_no_regression([1, 1, 0, 1], [1, 1, 0, 1], max_drop=0.05).passed
    True
    """
    __tracebackhide__ = True
    from .config.schema import Thresholds
    from .stats import DecisionMode
    from .tasks.base import Examples, Predictions, TaskType
    from .tasks.metrics import Metric
    from .verdict import compare

    if len(source_scores) != len(compressed_scores):
        raise ValueError(
            f"{len(source_scores)} source scores and {len(compressed_scores)} compressed scores: "
            "scores must be paired, one per example for each model"
        )
    binary = all(s in (0, 1) for s in [*source_scores, *compressed_scores])
    mean = Metric("mean_score", lambda p, r: sum(p) / len(p) if p else float("nan"),
                  per_example=lambda p, r: __import__("numpy").asarray(p, dtype=float), binary=binary)
    examples = Examples(inputs=list(range(len(source_scores))), references=[None] * len(source_scores))
    comparison = compare(
        task_name=task, target=target, task_type=TaskType(), metric=mean, examples=examples,
        source=Predictions([float(s) for s in source_scores]),
        compressed=Predictions([float(s) for s in compressed_scores]),
        thresholds=Thresholds(max_drop=max_drop, min_score=min_score, decision=DecisionMode(decision),
                              confidence=confidence),
        seed=seed,
    )
    return assert_no_regression(comparison)
