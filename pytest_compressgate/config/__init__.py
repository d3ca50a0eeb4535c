"""The gate's configuration: schema (typed objects) and loading (files, validation, errors)."""

from __future__ import annotations

from compressors.errors import ConfigError

from .loading import CONFIG_FILE, find_config, load_config
from .schema import DecisionMode, GateConfig, SourceConfig, TargetConfig, TaskConfig, Thresholds

__all__ = [
    "CONFIG_FILE", "ConfigError", "DecisionMode", "GateConfig", "SourceConfig", "TargetConfig",
    "TaskConfig", "Thresholds", "find_config", "load_config",
]
