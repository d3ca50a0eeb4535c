"""Typed configuration: what a team declares under ``[tool.compressgate]``.

Plain frozen dataclasses, built by ``loading.load_config``; nothing here imports torch or pytest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from compressors.pipeline import RecipeStep

from ..modes import DecisionMode, Inconclusive


class SourceDevice(str, Enum):
    """Where the source, the reference every target is compared with, is scored."""

    CPU = "cpu"
    CUDA = "cuda"  # one GPU
    AUTO = "auto"  # accelerate's device_map="auto": a model too large for one GPU spreads over all of them


@dataclass(frozen=True)
class SourceConfig:
    model: str  # a local directory or a hub id, loaded with from_pretrained
    task: str = "text-classification"  # decides the model class (AutoModelFor...)
    revision: str | None = None
    trust_remote_code: bool = False  # off unless the team turns it on
    device: SourceDevice = SourceDevice.CPU


@dataclass(frozen=True)
class Thresholds:
    """How much worse a compressed model may be on one task (for one target)."""

    max_drop: float | None = None  # absolute, in metric units
    max_relative_drop: float | None = None  # fraction of the source score
    min_score: float | None = None  # floor against silent collapse, whatever the drop
    decision: DecisionMode = DecisionMode.ESTIMATE
    confidence: float = 0.95
    # how much the drop may grow since the baseline run (--compress-gate-baseline), in metric units
    max_drop_increase: float | None = None
    # what an INCONCLUSIVE verdict (confident modes) does to the build; None: the mode's default
    inconclusive: Inconclusive | None = None

    def __post_init__(self) -> None:
        for name in ("max_drop", "max_relative_drop", "max_drop_increase", "min_score"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} = {value} is invalid: expected a finite number (leave it out for no limit)")
        for name in ("max_drop", "max_relative_drop", "max_drop_increase"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} = {value} is invalid: expected a number >= 0")
        if not 0.5 <= self.confidence < 1:
            raise ValueError(f"confidence = {self.confidence} is invalid: expected a number in [0.5, 1)")

    def allowed_drop(self, source_score: float) -> float:
        """The tightest of the absolute and relative limits; no limit at all means no drop allowed."""
        limits = []
        if self.max_drop is not None:
            limits.append(self.max_drop)
        if self.max_relative_drop is not None:
            limits.append(self.max_relative_drop * abs(source_score))
        return min(limits) if limits else 0.0

    def merged(self, override: dict[str, Any]) -> Thresholds:
        from dataclasses import replace

        return replace(self, **override)


THRESHOLD_KEYS = ("max_drop", "max_relative_drop", "min_score", "decision", "confidence", "max_drop_increase",
                  "inconclusive")


@dataclass(frozen=True)
class TaskConfig:
    name: str
    data: str  # a local file (any format `datasets` reads) or a data set name
    type: str = "text-classification"
    metric: str | None = None  # default: the task type's own
    split: str = "train"  # `datasets` calls a single local file's split "train"
    max_examples: int | None = None
    batch_size: int = 32
    thresholds: Thresholds = field(default_factory=Thresholds)
    target_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    options: Any = None  # the task type's own typed options (column names, ...; declared paths absolute)

    def thresholds_for(self, target: str) -> Thresholds:
        override = self.target_overrides.get(target)
        return self.thresholds.merged(override) if override else self.thresholds


@dataclass(frozen=True)
class TargetConfig:
    name: str
    hardware: str
    # parsed once, when the config loads: each step's method, typed config (paths resolved) and table as written
    recipe: tuple[RecipeStep, ...]
    min_size_ratio: float | None = None
    min_speedup: float | None = None
    max_latency_ms: float | None = None
    stage_thresholds: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class GateConfig:
    path: Path  # the file it was read from
    root: Path  # paths in the config are relative to this directory
    source: SourceConfig
    targets: dict[str, TargetConfig]
    tasks: dict[str, TaskConfig]
    cache_dir: Path
    registry: str
    seed: int = 0
    holm: bool = False  # Holm-adjust the confident verdicts across each target's tasks (family-wise error)

    def resolve(self, value: str) -> str:
        """A path relative to the config file, if it exists there; otherwise the value as given."""
        candidate = self.root / value
        return str(candidate) if candidate.exists() else value


DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet", ".txt")


def looks_local(name: str, root: Path) -> bool:
    """A path, not a hub id ("name" or "org/name"): absolute, relative with ./ or ../ or ~, more than one
    '/', a backslash, a file suffix of data, or a first folder that exists beside the config."""
    first = name.split("/")[0]
    return (name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1
            or name.endswith(DATA_SUFFIXES) or ("/" in name and (root / first).is_dir()))
