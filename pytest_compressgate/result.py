"""The one result record: what a gate decided for one task on one target (or one stage of it).

A ``GateResult`` is made by ``verdict.compare`` (scores, drop, interval, the decision), completed by the
judge (``gate/judge.py``: stage, baseline, size and speed checks) and then read by everything else: the
pytest items and their JUnit properties, the result collector (which gets it back from pytest-xdist
workers as JSON), the reports, baselines and the registry. ``to_json`` / ``from_json`` are its one
serialized form, versioned by ``RESULT_SCHEMA``; ``from_json`` also reads the rows of older reports.

The verdict is settled in one place: each thing that can fail the build is a named ``Check``, and
``settle`` turns the checks into ``passed`` and ``failures``. Nothing else sets them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the stats package imports scipy; a record is read without it
    from .stats.intervals import Interval

# Bump when a field changes meaning or is removed (adding a field keeps the version: from_json ignores
# keys it does not know and fills in defaults for those it lacks).
RESULT_SCHEMA = "compressgate-result/2"


@dataclass
class Check:
    """One named condition of the verdict: ``decision`` (the statistical verdict on the drop), ``finite``,
    ``collapse``, ``floor``, ``stages``, ``baseline``, ``size``, ``speed``, ``latency`` or ``hardware``."""

    name: str
    passed: bool
    message: str


@dataclass
class GateResult:
    task: str
    target: str
    metric: str
    higher_is_better: bool
    n: int
    source_score: float
    compressed_score: float
    drop: float  # positive = compressed is worse, in metric units
    allowed_drop: float
    min_score: float | None
    decision: str  # the decision mode (estimate, confident-pass, confident-fail)
    interval: Interval | None = None
    p_value: float | None = None
    passed: bool = True  # settled from ``checks`` (see settle); what the build does
    failures: list[str] = field(default_factory=list)  # the failed checks' messages, in order
    warnings: list[str] = field(default_factory=list)
    stage: str | None = None  # for stacked recipes: which stage was scored (None: the final one)
    gated: bool = True  # False: an intermediate stage without thresholds of its own, reported only
    performance: dict[str, Any] = field(default_factory=dict)  # size / speed figures
    examples_used: int | None = None  # fewer than n when early stopping decided the verdict
    keys: dict[str, str] = field(default_factory=dict)  # content keys of the source, examples and artifact
    outcome: str = "PASS"  # PASS, FAIL or INCONCLUSIVE (confident modes); ``passed`` is what the build does
    reason: str | None = None  # the decision's sentence (also in failures or warnings)
    needed: int | None = None  # INCONCLUSIVE: about how many examples would decide
    p_test: str | None = None  # what gave ``p_value``: "McNemar" (exact) or "bootstrap"
    margin_p: dict[str, float] | None = None  # one-sided p-values at the allowed drop ("pass", "fail"), for Holm
    discordant: dict[str, float] | None = None  # binary metrics: source-only, compressed-only, agreement
    inconclusive: str | None = None  # confident modes: what INCONCLUSIVE does to the build ("fail" or "pass")
    checks: list[Check] = field(default_factory=list)
    # set by reports, not by the gate
    nodeid: str | None = None
    baseline: dict[str, Any] | None = None  # how the drop moved since a baseline run (report/baseline.py)
    p_value_holm: float | None = None  # the printed p-value, Holm-adjusted across a target's tasks

    @property
    def item_id(self) -> str:
        return f"{self.task}[{self.target}]" + (f"@{self.stage}" if self.stage else "")

    @property
    def relative_drop(self) -> float:
        return self.drop / abs(self.source_score) if self.source_score else math.nan

    # -- the verdict ---------------------------------------------------------------------------

    def check(self, name: str, passed: bool, message: str) -> None:
        """Add a named check and settle."""
        self.checks.append(Check(name, passed, message))
        self.settle()

    def settle(self) -> None:
        """``passed`` and ``failures`` from the checks: an ungated stage reports its checks but fails nothing."""
        failed = [c.message for c in self.checks if not c.passed]
        self.failures = failed if self.gated else []
        self.passed = not self.failures

    # -- the serialized form -------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema"] = RESULT_SCHEMA
        data["relative_drop"] = self.relative_drop
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateResult:
        """A result from ``to_json``'s form, or from a row of an older report (no ``checks``: its failures
        become unnamed checks, so the verdict read back is the verdict written)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        interval = values.get("interval")
        if isinstance(interval, dict):
            from .stats.intervals import Interval

            values["interval"] = Interval(**{k: interval[k] for k in ("low", "high", "confidence", "method")
                                            if k in interval})
        raw_checks = values.pop("checks", None)
        result = cls(**values)
        if raw_checks is not None:
            result.checks = [Check(**c) for c in raw_checks]
        else:
            result.checks = [Check("unnamed", False, str(f)) for f in data.get("failures") or []]
        if "passed" not in data:
            result.passed = not result.failures
        return result

    # -- words -----------------------------------------------------------------------------------

    def summary(self) -> str:
        """One line with the numbers: scores, drop, allowed drop, interval, p-value and n."""
        ci = ""
        if self.interval is not None:
            ci = f", {self.interval.confidence:.0%} CI [{self.interval.low:+.4f}, {self.interval.high:+.4f}]"
        p = f", {self.p_test or 'bootstrap'} p={self.p_value:.3g}" if self.p_value is not None else ""
        used = f" (early stop after {self.examples_used})" if self.examples_used and self.examples_used < self.n else ""
        return (
            f"{self.item_id}: {self.metric} source {self.source_score:.4f} -> compressed "
            f"{self.compressed_score:.4f}; drop {self.drop:+.4f}{ci}{p}; allowed drop "
            f"{self.allowed_drop:.4f}; n={self.n}{used}"
        )

    def message(self) -> str:
        lines = [self.summary()]
        lines += [f"  FAIL: {f}" for f in self.failures]
        lines += [f"  note: {w}" for w in self.warnings]
        if self.failures:
            lines.append(
                f"  next: if this loss is acceptable, raise max_drop under [tool.compressgate.tasks.{self.task}"
                f".targets.{self.target}]; otherwise try a gentler recipe for '{self.target}' (per-channel "
                "scales, static calibration on your own data, fewer pruned weights)."
            )
        return "\n".join(lines)

