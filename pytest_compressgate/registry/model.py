"""What the registry holds: artifacts, their evaluations, and the decisions people made about them.

Plain dataclasses shared by every backend. Evaluations and decisions are append-only history; the
verdict and the release status are *derived* from that history, never stored as mutable state.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any


class Verdict(str, Enum):
    PASS = "PASS"  # every task's latest gated evaluation passed
    FAIL = "FAIL"  # at least one task's latest gated evaluation failed
    UNGATED = "UNGATED"  # scored, but no threshold applies to it (an intermediate stage)
    UNEVALUATED = "UNEVALUATED"  # built, never scored


class Decision(str, Enum):
    APPROVE = "approve"
    REJECT = "reject"


class Status(str, Enum):
    APPROVED = "approved"
    REJECTED = "rejected"
    PENDING = "pending"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def default_who() -> str:
    """Who is deciding: ``$COMPRESSGATE_USER``, else git's ``user.name``, else the OS user."""
    who = os.environ.get("COMPRESSGATE_USER", "").strip()
    return who or _git_user() or _os_user()


def _git_user() -> str:
    git = shutil.which("git")
    if git is None:
        return ""
    try:
        done = subprocess.run([git, "config", "user.name"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


@dataclass(frozen=True)
class ArtifactRecord:
    """One built stage of a target's recipe, keyed by its content key."""

    key: str
    target: str
    stage_index: int
    method: str
    params: dict[str, Any]
    recipe: list[dict[str, Any]]  # the whole target's recipe; this artifact is step ``stage_index``
    source_key: str  # the source model the recipe started from
    hardware: str
    libraries: dict[str, str]
    bytes_on_disk: int | None
    stats: dict[str, Any]
    path: str
    parent_key: str | None = None  # the stage's input: the source for stage 0, else the previous stage
    format: str | None = None
    created_at: str = field(default_factory=utc_now)

    @property
    def stage(self) -> str:
        return f"{self.stage_index}-{self.method}"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EvaluationRecord:
    """One comparison of this artifact with its source on one task, from one gate run."""

    artifact_key: str
    task: str
    target: str
    metric: str
    n: int
    source_score: float | None
    compressed_score: float | None
    drop: float | None  # positive = compressed is worse, in metric units
    allowed_drop: float | None
    passed: bool
    run_id: str
    stage: str | None = None  # the stage's name for intermediate stages, None for the final one
    gated: bool = True  # False: measured, but no threshold applied (its ``passed`` means nothing)
    higher_is_better: bool | None = None
    examples_used: int | None = None
    interval_low: float | None = None
    interval_high: float | None = None
    confidence: float | None = None
    p_value: float | None = None
    decision_mode: str | None = None
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    performance: dict[str, Any] = field(default_factory=dict)
    recorded_at: str = field(default_factory=utc_now)
    id: int | None = None  # assigned by the backend; orders evaluations

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ApprovalRecord:
    """One release decision. A later decision is a new record; none is ever changed."""

    artifact_key: str
    decision: Decision
    who: str
    why: str
    verdict: Verdict  # the artifact's verdict when the decision was made
    forced: bool = False  # approved although its verdict was FAIL
    decided_at: str = field(default_factory=utc_now)
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["decision"], data["verdict"] = self.decision.value, self.verdict.value
        return data


def latest_evaluations(evaluations: list[EvaluationRecord]) -> list[EvaluationRecord]:
    """The newest evaluation of each (task, target) pair; ``evaluations`` is in recorded order."""
    latest: dict[tuple[str, str], EvaluationRecord] = {}
    for evaluation in evaluations:
        latest[(evaluation.task, evaluation.target)] = evaluation
    return list(latest.values())


def verdict_of(evaluations: list[EvaluationRecord]) -> Verdict:
    """PASS only if every task's latest gated evaluation passed: an old failure stands until re-scored."""
    latest = latest_evaluations(evaluations)
    gated = [e for e in latest if e.gated]
    if not latest:
        return Verdict.UNEVALUATED
    if not gated:
        return Verdict.UNGATED
    return Verdict.PASS if all(e.passed for e in gated) else Verdict.FAIL


@dataclass(frozen=True)
class ArtifactDetails:
    """Everything the registry knows about one artifact."""

    artifact: ArtifactRecord
    evaluations: list[EvaluationRecord]  # oldest first
    approvals: list[ApprovalRecord]  # oldest first

    @property
    def key(self) -> str:
        return self.artifact.key

    @property
    def latest(self) -> list[EvaluationRecord]:
        return latest_evaluations(self.evaluations)

    @property
    def verdict(self) -> Verdict:
        return verdict_of(self.evaluations)

    @property
    def status(self) -> Status:
        if not self.approvals:
            return Status.PENDING
        return Status.APPROVED if self.approvals[-1].decision is Decision.APPROVE else Status.REJECTED

    def to_json(self) -> dict[str, Any]:
        return {
            "artifact": self.artifact.to_json(),
            "verdict": self.verdict.value,
            "status": self.status.value,
            "evaluations": [e.to_json() for e in self.evaluations],
            "approvals": [a.to_json() for a in self.approvals],
        }
