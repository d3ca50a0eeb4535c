"""Custom task: your own scorer maps (model, examples) to one score per example; the gate compares means.

Gate a custom scorer in a few lines. Register it where pytest imports it before scoring (``conftest.py``):

    from pytest_compressgate.tasks.custom import register_scorer

    @register_scorer("valid-json")
    def valid_json(model, examples):
        '''1 where the model's greedy output for the prompt parses as JSON, else 0.'''
        ...  # model.tokenizer, model(**inputs) (on the model's device, outputs on CPU), model.generate(...);
        # examples.inputs = [{"prompt": ...}, ...]
        return [1.0 if ok else 0.0 for ok in parsed]

and declare the task:

    [tool.compressgate.tasks.json-output]
    type = "custom"
    data = "data/prompts.jsonl"
    scorer = "valid-json"            # or "my_package.scorers:valid_json" (imported, never evaluated)
    input_columns = ["prompt"]
    reference_column = "expected"    # optional: passed as examples.references
    metric = "pass_rate"             # 0/1 scores; "mean_score" for any numbers
    max_drop = 0.02

The scorer is called once per batch of ``batch_size`` examples with the ``LoadedModel`` (``.model``,
``.tokenizer``, ``.label`` = "source" or the target's name) and an ``Examples`` whose inputs are dicts of
the ``input_columns`` and whose references are the ``reference_column`` values (None without one). It
returns one number per example, higher is better. Scores are kept as the predictions, so they are cached
and paired like any other task's.

Binary or not is the metric's choice, made in the config, because a verdict's statistics are fixed before
any score exists: ``pass_rate`` is for scorers whose scores are all 0 or 1 and gets the exact McNemar test
and discordant-pair interval (a score other than 0, 1 or NaN is an error naming the example; NaN counts as
a fail); ``mean_score`` takes any numbers and gets the paired bootstrap, which is also valid for 0/1
scores, only less sharp on small data. A NaN or infinite score is counted as a non-finite output.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compressors.errors import ConfigError
from compressors.registry import Registry

from .base import Examples, LoadedModel, Predictions, Progress, batches, register_task_type
from .data import load_rows, require_columns
from .metrics import Metric, mean_of, register_metric
from .scoring import StoredScoresTask

Scorer = Callable[[LoadedModel, Examples], Sequence[float]]
SCORERS: Registry[Scorer] = Registry("scorer")


def register_scorer(name: str) -> Callable[[Scorer], Scorer]:
    """Decorator: make ``fn(model, examples) -> scores`` available as ``scorer = "name"``."""
    return SCORERS.decorator(name)


def resolve_scorer(spec: str, where: str) -> Scorer:
    """A registered scorer's name, or "package.module:function", imported (never evaluated)."""
    if ":" not in spec:
        if spec not in SCORERS:
            raise ConfigError(f"{where} = {spec!r}: {SCORERS.unknown_message(spec)} "
                              "Register one with @register_scorer(name) or write \"package.module:function\".")
        return SCORERS.get(spec)
    module_name, _, attribute = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{where} = {spec!r}: cannot import {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{where} = {spec!r}: {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"{where} = {spec!r} is not callable")
    return target


def _scores(predictions: Sequence[Any], references: Sequence[Any]) -> np.ndarray:
    return np.asarray(predictions, dtype=float)


def _pass_flags(predictions: Sequence[Any], references: Sequence[Any]) -> np.ndarray:
    scores = np.asarray(predictions, dtype=float)
    odd = np.flatnonzero(~(np.isin(scores, (0.0, 1.0)) | np.isnan(scores)))
    if len(odd):
        raise ValueError(f"pass_rate needs scores of 0 or 1; example {odd[0]} scored {float(scores[odd[0]])!r}: "
                         "use metric = \"mean_score\" for other numbers")
    return np.nan_to_num(scores, nan=0.0)


register_metric(Metric("mean_score", mean_of(_scores), per_example=_scores, bounded=False))
register_metric(Metric("pass_rate", mean_of(_pass_flags), per_example=_pass_flags, binary=True))


@dataclass(frozen=True)
class CustomOptions:
    scorer: str  # a registered scorer's name, or "package.module:function"
    input_columns: tuple[str, ...] = ("text",)  # each example's input: a dict of these columns
    reference_column: str | None = None

    def __post_init__(self) -> None:
        if not self.input_columns:
            raise ValueError("input_columns is empty: name at least one column the scorer reads")


@register_task_type
class Custom(StoredScoresTask):
    name = "custom"
    options_cls = CustomOptions
    default_metric = "mean_score"
    metrics = ("mean_score", "pass_rate")
    model_task = "any"  # the scorer uses whatever model class the source's task loads

    def load(self, data: str, options: CustomOptions, *, split: str, max_examples: int | None,
             where: str) -> Examples:
        resolve_scorer(options.scorer, f"{where}.scorer")  # an unknown scorer fails before any model loads
        rows = load_rows(data, split=split, max_examples=max_examples, where=f"{where}.data")
        columns = {f"input_columns[{i}]": c for i, c in enumerate(options.input_columns)}
        if options.reference_column:
            columns["reference_column"] = options.reference_column
        require_columns(rows, columns, where)
        inputs = [dict(zip(options.input_columns, values))
                  for values in zip(*(rows[c] for c in options.input_columns))]
        references = list(rows[options.reference_column]) if options.reference_column else [None] * len(inputs)
        return Examples(inputs=inputs, references=references)

    def predict(self, model: LoadedModel, examples: Examples, options: CustomOptions, *,
                batch_size: int, progress: Progress | None = None) -> Predictions:
        scorer = resolve_scorer(options.scorer, "scorer")
        values: list[float] = []
        for start, batch in zip(range(0, len(examples), batch_size), batches(examples.inputs, batch_size)):
            part = Examples(inputs=list(batch), references=list(examples.references[start:start + len(batch)]))
            scores = list(scorer(model, part))
            if len(scores) != len(batch):
                raise ValueError(f"scorer {options.scorer!r} returned {len(scores)} scores for {len(batch)} examples; "
                                 "it must return one per example")
            for i, score in enumerate(scores):
                try:
                    values.append(float(score))
                except (TypeError, ValueError):
                    raise ValueError(f"scorer {options.scorer!r} returned {score!r} for example {start + i}; "
                                     "scores must be numbers") from None
            if progress:
                progress(len(batch))
        return Predictions(values=values, nonfinite=sum(not math.isfinite(v) for v in values))
