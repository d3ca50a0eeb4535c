"""Custom task: the team's own evaluation code, cached and compared like a built-in task type.

Three kinds of function, registered in a ``conftest.py`` (or named as "package.module:function"):

- a **scorer** ``fn(model, examples[, state]) -> one number per example`` (higher is better), compared
  by ``mean_score`` (any numbers, paired bootstrap) or ``pass_rate`` (0/1 only, McNemar);
- a **predictor** ``fn(model, examples[, state]) -> one prediction per example`` (a label, a string),
  compared with the ``reference_column`` by any registered metric: ``accuracy`` (per example),
  ``macro_f1`` (corpus-level, recomputed on every bootstrap resample), ``exact_match``, ``rouge_l``, ...;
- a **setup** ``fn(source, task) -> state``, run once per session with the *source* model, only when some
  predictions must be computed (fit a probe, build an index, pick prompts); its return value is passed as
  the third argument to the scorer or predictor, for the source and for every compressed model alike.

    [tool.compressgate.tasks.topics]
    type = "custom"
    data = "data/test.jsonl"
    setup = "fit-probe"                 # optional
    predictor = "probe"                 # or scorer = "..."
    input_columns = ["text"]
    reference_column = "label"
    files = { train = "data/train.jsonl" }   # files the functions read: task.files["train"], task.rows("train")
    params = { C = 1.0 }                     # free parameters: task.params["C"]
    metric = "macro_f1"

``model`` is a ``LoadedModel`` (``.model``, ``.tokenizer``, ``.label`` = "source" or the target's name;
call it with tokenizer outputs); ``examples.inputs`` are dicts of the ``input_columns``,
``examples.references`` the ``reference_column`` values. Functions are called once per batch of
``batch_size`` examples, in the data's order.

Everything that can change a result is in the cache key: the data's bytes, the options, the bytes of each
file under ``files``, and the source text of the modules defining the three functions (code they import
from other files is not followed: list those files under ``files`` too). A warm run loads no model.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import marshal
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compressors.errors import ConfigError
from compressors.registry import Registry
from compressors.typed import path_field

from .base import Examples, LoadedModel, Predictions, Progress, SourceAccess, batches, register_task_type
from .classification import one_class_collapse
from .data import load_rows, require_columns
from .metrics import METRICS, Metric, mean_of, register_metric
from .scoring import StoredScoresTask

Scorer = Callable[..., Sequence[Any]]


def _callable(loaded: Any) -> Callable[..., Any]:
    if not callable(loaded):
        raise TypeError(f"expected a function, got {type(loaded).__name__}")
    return loaded


# Installed packages add functions through these entry-point groups (``name = "package.module:function"``).
SCORERS: Registry[Scorer] = Registry("scorer", group="pytest_compressgate.scorers", adopt=_callable)
PREDICTORS: Registry[Scorer] = Registry("predictor", group="pytest_compressgate.predictors", adopt=_callable)
SETUPS: Registry[Callable[..., Any]] = Registry("setup", group="pytest_compressgate.setups", adopt=_callable)
SCORE_METRICS = ("mean_score", "pass_rate")  # the scorer's metrics; every other metric compares predictions


def register_scorer(name: str) -> Callable[[Scorer], Scorer]:
    """Decorator: make ``fn(model, examples[, state]) -> scores`` available as ``scorer = "name"``."""
    return SCORERS.decorator(name)


def register_predictor(name: str) -> Callable[[Scorer], Scorer]:
    """Decorator: make ``fn(model, examples[, state]) -> predictions`` available as ``predictor = "name"``."""
    return PREDICTORS.decorator(name)


def register_setup(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: make ``fn(source, task) -> state`` available as ``setup = "name"``."""
    return SETUPS.decorator(name)


def resolve_function(spec: str, where: str, registry: Registry = SCORERS) -> Callable[..., Any]:
    """A registered name, or "package.module:function", imported (never evaluated)."""
    if ":" not in spec:
        if spec not in registry:
            decorator = f"@register_{registry.kind}(name)"
            raise ConfigError(f"{where} = {spec!r}: {registry.unknown_message(spec)} "
                              f"Register one with {decorator} or write \"package.module:function\".")
        return registry.get(spec)
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


def resolve_scorer(spec: str, where: str) -> Scorer:
    return resolve_function(spec, where, SCORERS)


def code_digest(fn: Callable[..., Any]) -> str:
    """sha256 of the source text of the module defining ``fn`` (its helpers and constants too), or of its
    compiled code where no source file exists (a function built at run time)."""
    module = inspect.getmodule(fn)
    try:
        text = inspect.getsource(module if module is not None else fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None) or getattr(type(fn).__call__, "__code__", None)
        text = marshal.dumps(code) if code is not None else repr(fn).encode()
    return hashlib.sha256(text).hexdigest()


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
    scorer: str | None = None  # fn(model, examples[, state]) -> one score per example (mean_score, pass_rate)
    predictor: str | None = None  # fn(model, examples[, state]) -> one prediction per example (other metrics)
    setup: str | None = None  # fn(source, task) -> state, once per session with the source model
    input_columns: tuple[str, ...] = ("text",)  # each example's input: a dict of these columns
    reference_column: str | None = None  # the references predictions are compared with
    files: dict[str, str] = path_field(default_factory=dict)  # name -> file the functions read (bytes keyed)
    params: dict[str, Any] = field(default_factory=dict)  # free parameters for the functions (keyed)
    timing_column: str | None = None  # the text input timed for speed; default: the first text column

    def __post_init__(self) -> None:
        if not self.input_columns:
            raise ValueError("input_columns is empty: name at least one column the scorer reads")
        if (self.scorer is None) == (self.predictor is None):
            raise ValueError("set exactly one of scorer (one score per example) and predictor "
                             "(one prediction per example, compared with reference_column)")

    @property
    def function(self) -> str:
        return self.scorer or self.predictor or ""

    @property
    def registry(self) -> Registry:
        return SCORERS if self.scorer else PREDICTORS


@dataclass(frozen=True)
class SetupTask:
    """What a setup function sees besides the source model: the task's declared files and parameters."""

    files: dict[str, Path]
    params: dict[str, Any]
    batch_size: int = 32

    def rows(self, name: str) -> list[dict[str, Any]]:
        """The rows of ``files[name]`` (any format ``datasets`` reads), as dicts."""
        if name not in self.files:
            raise KeyError(f"no file {name!r} under the task's files; declared: {', '.join(self.files) or 'none'}")
        return load_rows(str(self.files[name]), where=f"files.{name}").to_list()


@dataclass(frozen=True)
class Prepared:
    """Options bound to the state the setup step returned (one session's, never cached)."""

    options: CustomOptions
    state: Any


@register_task_type
class Custom(StoredScoresTask):
    name = "custom"
    options_cls = CustomOptions
    default_metric = "mean_score"
    metrics = ("mean_score", "pass_rate", "accuracy", "macro_f1", "exact_match")  # + any registered metric
    model_task = "any"  # the functions use whatever model class the source's task loads

    @classmethod
    def check_metric(cls, metric: str, where: str) -> None:
        if metric not in METRICS:  # any registered metric: a predictor's outputs are compared by it
            raise ConfigError(f"{where} = {metric!r}: {METRICS.unknown_message(metric)}")

    @classmethod
    def check_task(cls, metric: str, options: CustomOptions, where: str) -> None:
        if options.scorer and metric not in SCORE_METRICS:
            raise ConfigError(f"{where}.metric = {metric!r} compares predictions: with scorer = {options.scorer!r} "
                              f"(one score per example) use {' or '.join(SCORE_METRICS)}, or name a predictor")
        if options.predictor and metric in SCORE_METRICS:
            raise ConfigError(f"{where}.metric = {metric!r} averages scores: with predictor = {options.predictor!r} "
                              "use a metric that compares predictions with references (accuracy, macro_f1, ...)")
        if options.predictor and not options.reference_column:
            raise ConfigError(f"{where}.reference_column is required with predictor = {options.predictor!r}: "
                              f"the column {metric} compares the predictions with")

    def functions(self, options: CustomOptions, where: str) -> dict[str, Callable[..., Any]]:
        found = {"scorer" if options.scorer else "predictor":
                 resolve_function(options.function, f"{where}.{'scorer' if options.scorer else 'predictor'}",
                                  options.registry)}
        if options.setup:
            found["setup"] = resolve_function(options.setup, f"{where}.setup", SETUPS)
        return found

    def key_parts(self, options: CustomOptions, where: str = "task") -> dict[str, Any]:
        return {role: code_digest(fn) for role, fn in self.functions(options, where).items()}

    def load(self, data: str, options: CustomOptions, *, split: str, max_examples: int | None,
             where: str) -> Examples:
        self.functions(options, where)  # an unknown function fails before any model loads
        for name, path in options.files.items():
            if not Path(path).is_file():
                raise ConfigError(f"{where}.files.{name} = {path!r}: no such file "
                                  "(paths are relative to the config file)")
        rows = load_rows(data, split=split, max_examples=max_examples, where=f"{where}.data")
        columns = {f"input_columns[{i}]": c for i, c in enumerate(options.input_columns)}
        if options.reference_column:
            columns["reference_column"] = options.reference_column
        require_columns(rows, columns, where)
        inputs = [dict(zip(options.input_columns, values))
                  for values in zip(*(rows[c] for c in options.input_columns))]
        references = list(rows[options.reference_column]) if options.reference_column else [None] * len(inputs)
        return Examples(inputs=inputs, references=references)

    def prepare(self, options: CustomOptions, source: SourceAccess) -> CustomOptions | Prepared:
        """Run the setup step once per session (shared by tasks with the same setup, files and params)."""
        if not options.setup:
            return options
        memo = ("custom-setup", options.setup, tuple(sorted(options.files.items())),
                repr(sorted(options.params.items())))
        if memo not in source.memo:
            setup = resolve_function(options.setup, "setup", SETUPS)
            task = SetupTask(files={k: Path(v) for k, v in options.files.items()}, params=dict(options.params))
            source.memo[memo] = setup(source.load(), task)
        return Prepared(options, source.memo[memo])

    def predict(self, model: LoadedModel, examples: Examples, options: CustomOptions | Prepared, *,
                batch_size: int, progress: Progress | None = None) -> Predictions:
        state = options.state if isinstance(options, Prepared) else None
        options = options.options if isinstance(options, Prepared) else options
        if options.setup and state is None:
            raise ValueError(f"setup {options.setup!r} has not run: pass the options through prepare() first")
        role = "scorer" if options.scorer else "predictor"
        fn = resolve_function(options.function, role, options.registry)
        values: list[Any] = []
        for start, batch in zip(range(0, len(examples), batch_size), batches(examples.inputs, batch_size)):
            part = Examples(inputs=list(batch), references=list(examples.references[start:start + len(batch)]))
            outputs = list(fn(model, part, state) if options.setup else fn(model, part))
            if len(outputs) != len(batch):
                raise ValueError(f"{role} {options.function!r} returned {len(outputs)} outputs for {len(batch)} "
                                 "examples; it must return one per example")
            values.extend(_checked(output, role, options.function, start + i) for i, output in enumerate(outputs))
            if progress:
                progress(len(batch))
        nonfinite = sum(isinstance(v, float) and not math.isfinite(v) for v in values)
        return Predictions(values=values, nonfinite=nonfinite)

    def collapse(self, predictions: Predictions, examples: Examples) -> str | None:
        found = super().collapse(predictions, examples)
        if found or examples.references[:1] == [None]:
            return found
        return one_class_collapse(predictions, examples)

    def timing_texts(self, examples: Examples, options: CustomOptions) -> list[str]:
        """The texts of ``timing_column`` (default: the first input column holding strings)."""
        if not examples.inputs:
            return []
        first = examples.inputs[0]
        column = options.timing_column or next((c for c in options.input_columns if isinstance(first[c], str)), None)
        if column is None or column not in options.input_columns or not isinstance(first.get(column), str):
            return []
        return [str(x[column]) for x in examples.inputs]

    def no_timing_reason(self, options: CustomOptions) -> str:
        if options.timing_column:
            return f"timing_column = {options.timing_column!r} is not an input column holding text"
        return (f"none of input_columns ({', '.join(options.input_columns)}) holds text to time the models on; "
                "set timing_column to one that does")


def _checked(output: Any, role: str, name: str, index: int) -> Any:
    """A JSON-able output: a number for a scorer; a number, string, bool or None for a predictor."""
    if hasattr(output, "item") and callable(output.item):  # numpy scalars
        output = output.item()
    if role == "scorer" or isinstance(output, float):
        try:
            return float(output)
        except (TypeError, ValueError):
            raise ValueError(
                f"scorer {name!r} returned {output!r} for example {index}; scores must be numbers") from None
    if output is None or isinstance(output, (str, int, bool)):
        return output
    raise ValueError(f"predictor {name!r} returned {output!r} ({type(output).__name__}) for example {index}; "
                     "predictions must be strings, numbers, booleans or None")
