"""Stacked recipes: run steps in order, keep every stage's artifact so each stage can be scored.

A recipe is parsed once into ``RecipeStep``s (``parse_recipe``): the registered method, its typed config
with declared paths resolved, the table as written (for registry records and model cards) and the step's
key path. Everything after that reads the steps; nothing parses a table again.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import Artifact, Context, Method, ModelFormat, StepConfig, compress, parse_step, step_params
from .errors import ConfigError


@dataclass(frozen=True)
class RecipeStep:
    """One step of a recipe, parsed."""

    method: Method
    config: StepConfig  # typed; its declared path fields are absolute
    table: Mapping[str, Any]  # as the user wrote it, ``method`` included
    where: str  # its key path, e.g. "targets.cpu.recipe[0]"

    @property
    def name(self) -> str:
        return self.method.name


def parse_recipe(steps: Any, where: str = "recipe", *,
                 root: str | os.PathLike[str] | None = None) -> tuple[RecipeStep, ...]:
    """Parse every step up front so a typo in step 3 fails before step 1 spends minutes: key paths in each
    error and the format chain checked (whether each backend is installed: ``base.missing_backend``)."""
    if not isinstance(steps, (list, tuple)):
        raise ConfigError(f"{where} must be a list of steps, e.g. [{{ method = \"onnx-dynamic-int8\" }}]")
    if not steps:
        raise ConfigError(f"{where} is empty: give at least one step, e.g. [{{ method = \"onnx-dynamic-int8\" }}]")
    parsed = []
    for i, step in enumerate(steps):
        if isinstance(step, RecipeStep):
            parsed.append(step)
            continue
        method, config = parse_step(step, f"{where}[{i}]", root)
        table = dict(step) if isinstance(step, Mapping) else {"method": method.name, **step_params(config)}
        parsed.append(RecipeStep(method, config, table, f"{where}[{i}]"))
    check_format_chain([s.method for s in parsed], where)
    return tuple(parsed)


def check_format_chain(methods: Sequence[Any], where: str = "recipe",
                       source_format: ModelFormat = ModelFormat.TRANSFORMERS) -> None:
    """Each step must accept what the step before it writes (distill cannot follow an ONNX export):
    found from the methods' declared formats before anything is built, not after the earlier stages ran."""
    fmt: ModelFormat | None = source_format
    for i, method in enumerate(methods):
        if fmt is not None and fmt not in method.accepts:
            previous = f"{where}[{i - 1}] ({methods[i - 1].name})" if i else "the source"
            raise ConfigError(
                f"{where}[{i}].method = {method.name!r} cannot follow {previous}, which writes the {fmt.value} "
                f"format; {method.name!r} takes only {', '.join(f.value for f in method.accepts)}. Put it earlier "
                "in the recipe.")
        fmt = method.produces


def run_recipe(
    model_dir: str | os.PathLike[str],
    steps: Sequence[Mapping[str, Any] | StepConfig | RecipeStep],
    out_root: str | os.PathLike[str],
    *,
    context: Context | None = None,
) -> list[Artifact]:
    """Apply ``steps`` one after another; stage ``i`` is written to ``out_root/stage-i-<method>``."""
    recipe = parse_recipe(list(steps))
    context = context or Context()
    current, fmt = Path(model_dir), context.source_format
    artifacts = []
    for i, step in enumerate(recipe):
        ctx = dataclasses.replace(context, source_format=fmt)
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in step.name)
        artifact = compress(current, step.config, Path(out_root) / f"stage-{i}-{safe}", context=ctx)
        artifacts.append(artifact)
        current, fmt = artifact.path, ModelFormat(artifact.format)
    return artifacts
