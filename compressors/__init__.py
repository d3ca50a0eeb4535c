"""Compression methods usable without pytest: ``compress(model_dir, step, out_dir)`` -> ``Artifact``."""

from __future__ import annotations

from .base import METHODS, Artifact, Context, ModelFormat, Result, StepConfig, compress, parse_step, register
from .errors import BackendMissingError, CompressionError, ConfigError
from .pipeline import RecipeStep, parse_recipe, run_recipe

__all__ = [
    "METHODS", "Artifact", "BackendMissingError", "CompressionError", "ConfigError", "Context",
    "ModelFormat", "RecipeStep", "Result", "StepConfig", "compress", "parse_recipe", "parse_step", "register",
    "run_recipe",
]
