"""What each thing the gate caches is keyed by, computed from the config alone (nothing is built here).

One place for every key, so ``tests/unit/cache/test_key_coverage.py`` can change each config field in
turn and check that some key changes, unless the field is listed in ``NOT_IN_KEYS`` with the reason no
cached result depends on it. A field added to the config without either fails that test.

- an artifact (one recipe stage): its parent's key, the method, the method's version, the canonical
  step parameters (declared paths as written) and the bytes of the files its declared path fields name,
  the hardware preset, the model task, trust_remote_code, the seed and the library versions;
- examples: the data's bytes, the task type, its options and the bytes of the files their declared path
  fields name, the split, ``max_examples``, what the task type adds (``key_parts``: a custom scorer's
  code) and the libraries;
- predictions: the model's key, the examples' key, how they are batched (``batch_size``: dynamic INT8
  computes activation scales per batch), the task type's version, the model task and trust_remote_code
  (which decide the class and the code that loads the model), the seed, the device and, for early
  stopping, the examples' indices;
- timings: the artifact, the source, the measuring method, the texts timed and the machine, and for
  decoding (causal LMs on CUDA) its parameters.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from compressors.typed import path_fields, relative_paths

from .keys import hash_path, make_key

if TYPE_CHECKING:
    from compressors.pipeline import RecipeStep

# Config fields that are in no key, and why no cached result depends on them.
NOT_IN_KEYS: Mapping[str, str] = {
    "GateConfig.path": "where the config was read from; everything it says is keyed by value",
    "GateConfig.root": "the folder paths are relative to; files are keyed by their bytes, not their paths",
    "GateConfig.cache_dir": "where the cache lives",
    "GateConfig.registry": "where results are recorded, after they are computed",
    "GateConfig.holm": "adjusts p-values in reports; comparisons are recomputed every run",
    "SourceConfig.model": "names the weights; the source key is their bytes",
    "SourceConfig.revision": "chooses which weights are downloaded; the source key is their bytes",
    "TargetConfig.name": "a label: two targets with the same recipe share their artifacts",
    "TargetConfig.min_size_ratio": "a gate checked on every run from measured sizes",
    "TargetConfig.min_speedup": "a gate checked on every run from the cached timings",
    "TargetConfig.max_latency_ms": "a gate checked on every run from the cached timings",
    "TargetConfig.stage_thresholds": "thresholds, applied on every run to cached predictions",
    "TaskConfig.name": "a label: the examples and predictions are keyed by content",
    "TaskConfig.metric": "computed on every run from cached predictions (which hold every metric's scores)",
    "TaskConfig.thresholds": "applied on every run; early stopping keys each chunk by its example indices",
    "TaskConfig.target_overrides": "thresholds, applied on every run",
    **{f"Thresholds.{name}": "applied on every run to cached predictions (early-stop chunks are keyed by "
       "their example indices)" for name in ("max_drop", "max_relative_drop", "min_score", "decision",
                                             "confidence", "max_drop_increase", "inconclusive")},
}


class GateKeys:
    """Keys for one config. ``versions`` are the library versions; ``source_key`` and the file hashing
    come from the session, which owns the source directory and the digest memo."""

    def __init__(self, config: Any, versions: Mapping[str, str]) -> None:
        self.config = config
        self.versions = dict(versions)

    # -- artifacts ---------------------------------------------------------------------------

    def stage(self, parent_key: str, target: Any, step: RecipeStep, index: int | None = None) -> str:
        """The key of one recipe step built on ``parent_key``. Its declared paths enter the key as the user
        wrote them (relative to the config's folder) and the files they name by their bytes."""
        from compressors.base import step_params

        source = self.config.source
        return make_key(kind="artifact", parent=parent_key, method=step.method.name, method_version=step.method.version,
                        params=step_params(relative_paths(step.config, self.config.root)),
                        files=self.file_hashes(step.config), hardware=target.hardware, task=source.task,
                        trust_remote_code=source.trust_remote_code, seed=self.config.seed, libraries=self.versions)

    def stages(self, target: Any, source_key: str) -> list[str]:
        """Every stage's key of ``target``'s recipe, each from its parent's, without building anything."""
        keys, parent = [], source_key
        for index, step in enumerate(target.recipe):
            parent = self.stage(parent, target, step, index)
            keys.append(parent)
        return keys

    @staticmethod
    def file_hashes(config: Any) -> dict[str, Any]:
        """The bytes of the files a config's declared path fields name (calibration or training data, a
        corpus, a custom task's files), by field; a table of paths gives a table of hashes. Nothing else is
        taken for a file, however its value reads. Missing files are preflight's to report."""
        hashes: dict[str, Any] = {}
        for name in path_fields(config):
            value = getattr(config, name)
            if isinstance(value, str) and os.path.exists(value):
                hashes[name] = hash_path(value)
            elif isinstance(value, Mapping):
                found = {k: hash_path(v) for k, v in value.items() if isinstance(v, str) and os.path.exists(v)}
                if found:
                    hashes[name] = found
        return hashes

    # -- examples and predictions ------------------------------------------------------------

    def examples(self, task: Any) -> str:
        from ..tasks import TASK_TYPES

        data_path = self.config.resolve(task.data)
        # what the task type adds: a custom task's functions' source
        code = TASK_TYPES.get(task.type).key_parts(task.options, f"tasks.{task.name}")
        return make_key(kind="examples", format=2,
                        data=hash_path(data_path) if os.path.exists(data_path) else data_path,
                        type=task.type, options=self.keyed_options(task),
                        files=self.file_hashes(task.options),  # a retrieval corpus edited in place misses
                        split=task.split,
                        max_examples=task.max_examples, libraries=self.versions,
                        **({"code": code} if code else {}))

    def keyed_options(self, task: Any) -> Any:
        """The options as they enter the examples' key: declared paths as written, relative to the config."""
        if not dataclasses.is_dataclass(task.options) or isinstance(task.options, type):
            return task.options
        return relative_paths(task.options, self.config.root)

    def predictions(self, task: Any, model_key: str, *, subset: Sequence[int] | None, device: str) -> str:
        from ..tasks import TASK_TYPES

        source = self.config.source
        return make_key(kind="predictions", model=model_key, examples=self.examples(task), seed=self.config.seed,
                        subset=None if subset is None else [int(i) for i in subset], device=device,
                        batch_size=task.batch_size, scoring_version=TASK_TYPES.get(task.type).version,
                        model_task=source.task, trust_remote_code=source.trust_remote_code)

    # -- timings -----------------------------------------------------------------------------

    @staticmethod
    def speed(*, artifact_key: str, source_key: str, method: int, machine: Any, texts: Sequence[str],
              decode: Mapping[str, Any] | None = None) -> str:
        """``decode``: decoding was timed, with these parameters (prompt, new tokens, batch sizes, compile
        mode), not a forward of the texts; prefill timings keep the key they had before decoding existed."""
        return make_key(kind="speed", artifact=artifact_key, source=source_key, method=method, machine=machine,
                        texts=make_key(texts=list(texts)), **({"decode": dict(decode)} if decode else {}))


def every_key(session: Any) -> dict[str, str]:
    """Every key a session would use for its config, by name: what the key-coverage test compares."""
    keys: GateKeys = session.keys
    source_key = session.source_key
    out = {"source": source_key}
    stage_keys = {}
    for name, target in session.config.targets.items():
        for index, key in enumerate(keys.stages(target, source_key)):
            out[f"artifact:{name}:{index}"] = stage_keys[(name, index)] = key
    for task_name, task in session.config.tasks.items():
        out[f"examples:{task_name}"] = keys.examples(task)
        out[f"predictions:{task_name}:source"] = keys.predictions(task, source_key, subset=None,
                                                                  device=session.source_device)
        for (target_name, index), key in stage_keys.items():
            device = session.device(target_name)
            out[f"predictions:{task_name}:{target_name}:{index}"] = keys.predictions(task, key, subset=None,
                                                                                     device=device)
    return out
