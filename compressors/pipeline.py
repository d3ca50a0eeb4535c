"""Stacked recipes: run steps in order, keep every stage's artifact so each stage can be scored."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .base import Artifact, Context, ModelFormat, compress, parse_step


def validate_recipe(steps: Sequence[Mapping[str, Any]], where: str = "recipe") -> list[tuple[Any, Any]]:
    """Parse every step up front so a typo in step 3 fails before step 1 spends minutes."""
    from .errors import ConfigError

    if not steps:
        raise ConfigError(f"{where} is empty: give at least one step, e.g. [{{ method = \"onnx-dynamic-int8\" }}]")
    parsed = [parse_step(step, f"{where}[{i}]") for i, step in enumerate(steps)]
    check_format_chain([method for method, _ in parsed], where)
    return parsed


def check_format_chain(methods: Sequence[Any], where: str = "recipe",
                       source_format: ModelFormat = ModelFormat.TRANSFORMERS) -> None:
    """Each step must accept what the step before it writes (distill cannot follow an ONNX export):
    found from the methods' declared formats before anything is built, not after the earlier stages ran."""
    from .errors import ConfigError

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
    steps: Sequence[Mapping[str, Any]],
    out_root: str | os.PathLike[str],
    *,
    context: Context | None = None,
) -> list[Artifact]:
    """Apply ``steps`` one after another; stage ``i`` is written to ``out_root/stage-i-<method>``."""
    validate_recipe(steps)
    context = context or Context()
    current, fmt = Path(model_dir), context.source_format
    artifacts = []
    for i, step in enumerate(steps):
        ctx = dataclasses.replace(context, source_format=fmt)
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in str(step["method"]))
        artifact = compress(current, step, Path(out_root) / f"stage-{i}-{safe}", context=ctx)
        artifacts.append(artifact)
        current, fmt = artifact.path, ModelFormat(artifact.format)
    return artifacts
