"""Size and speed of each target's final artifact beside the source: sizes always, speed on the texts of
the first task that has them, cached per artifact and per machine (timings are local facts). A causal LM
timed on a CUDA GPU is timed decoding (``decoding.measure_decode_timings``), anything else by a forward."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..cache import CacheStore
from ..cache.documents import timings_problem
from ..cache.gate_keys import GateKeys
from ..decoding import decode_parameters, measure_decode_timings, not_decodable
from ..gpus import physical_device
from ..performance import SPEED_METHOD, Performance, UnreliableTiming, measure_sizes, measure_timings
from ..tasks import TASK_TYPES
from .builder import Builder
from .scorer import Scorer

TIMED_TEXTS = 64  # the first this many of a task's texts are timed


class Timer:
    def __init__(self, cache: CacheStore, keys: GateKeys, builder: Builder, scorer: Scorer, *,
                 rebuild: bool = False, say: Callable[[str], None] = lambda line: None) -> None:
        self.cache, self.keys, self.builder, self.scorer = cache, keys, builder, scorer
        self.rebuild, self.say = rebuild, say
        self._performance: dict[str, Performance] = {}
        self.speed_note: str | None = None  # why speed is not measured, when no task has texts to time

    def performance(self, target_name: str) -> Performance:
        if target_name in self._performance:
            return self._performance[target_name]
        from ..targets import detect_machine

        builder = self.builder
        final = builder.build(target_name).final
        perf = measure_sizes(builder.source_dir, final.artifact.path, final.artifact.stats)
        texts = self._timing_texts()
        if texts:
            device = self.scorer.device(target_name)  # the source is timed on the target's device too
            decode = self.decode_parameters(device)
            key = self.keys.speed(artifact_key=final.key, source_key=builder.source_key, method=SPEED_METHOD,
                                  machine=dataclasses.asdict(detect_machine()), texts=texts, decode=decode)

            def run() -> dict[str, Any]:
                self.say(f"compressgate: timing {'decoding of ' if decode else ''}{target_name} beside the source")
                source = self.scorer.load(builder.source_dir, "source", device)
                compressed = self.scorer.load(final.artifact.path, target_name, device)
                why_not = (not_decodable(source) or not_decodable(compressed)) if decode else None
                if decode and not why_not:
                    timings = measure_decode_timings(source, compressed, texts, new_tokens=decode["new_tokens"],
                                                     batch_size=decode["batch_sizes"][1],
                                                     compile_mode=decode["compile_mode"],
                                                     say=lambda line: self.say(f"compressgate: {target_name}: {line}"))
                else:
                    timings = measure_timings(source, compressed, texts)
                if why_not:  # the same artifact under the same key falls back the same way
                    self.say(f"compressgate: {target_name}: a forward timed, not decoding: {why_not}")
                    timings["not_decoded"] = why_not
                timings["devices"] = {"source": physical_device(source.device),
                                      "compressed": physical_device(compressed.device)}
                if timings["unreliable"]:
                    raise UnreliableTiming(timings)  # reported, never cached as fact
                return timings

            try:
                timings, _ = self.cache.get_or_build_json("speed", key, run, rebuild=self.rebuild,
                                                          check=timings_problem)
            except UnreliableTiming as exc:
                timings = exc.timings
            perf.set_timings(timings)
        self._performance[target_name] = perf
        return perf

    def decode_parameters(self, device: str) -> dict[str, Any] | None:
        """What decoding is timed with, for a causal LM on a CUDA GPU (where decoding decides serving cost),
        else None: a forward of the texts is timed (on a CPU, compiling each step would only slow CI)."""
        if self.scorer.config.source.task != "causal-lm" or not device.startswith("cuda"):
            return None
        return decode_parameters()

    def _timing_texts(self) -> list[str]:
        """The first task's texts that the models can be timed on; otherwise why speed is not measured."""
        reasons = []
        for name, task in self.scorer.config.tasks.items():
            task_type = TASK_TYPES.get(task.type)
            texts = task_type.timing_texts(self.scorer.examples(name), task.options)
            if texts:
                return texts[:TIMED_TEXTS]
            reasons.append(f"tasks.{name}: {task_type.no_timing_reason(task.options)}")
        self.speed_note = "speed not measured: " + "; ".join(reasons)
        return []
