"""The builder: finds the source model and builds each target's recipe, stage by stage, through the cache."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from compressors.base import Artifact, Context, ModelFormat, compress

from ..cache import CacheStore, hash_path, make_key
from ..cache.gate_keys import GateKeys
from ..config import ConfigError, GateConfig, TargetConfig
from ..config.schema import looks_local


@dataclass
class Stage:
    """One step of a target's recipe, built and cached."""

    index: int
    method: str
    key: str
    artifact: Artifact
    cache_hit: bool

    @property
    def name(self) -> str:
        return f"{self.index}-{self.method}"


@dataclass
class BuiltTarget:
    name: str
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def gated(self, stage: Stage, config: TargetConfig) -> bool:
        """Whether ``stage``'s results can fail the build: the final stage, or one with thresholds of its own."""
        return stage is self.final or stage.index in config.stage_thresholds


class Builder:
    """Source model and artifacts. ``say`` gets status lines; ``build_source`` is the project's hook that
    may produce the source model (a conftest.py's ``pytest_compressgate_build_source``)."""

    def __init__(self, config: GateConfig, cache: CacheStore, keys: GateKeys, *, rebuild: bool = False,
                 say: Callable[[str], None] = lambda line: None,
                 build_source: Callable[[GateConfig], str | None] | None = None) -> None:
        self.config, self.cache, self.keys, self.rebuild = config, cache, keys, rebuild
        self.say, self.build_source = say, build_source
        self._source_dir: Path | None = None
        self._built: dict[str, BuiltTarget] = {}

    # -- the source model -------------------------------------------------------------------

    @property
    def source_dir(self) -> Path:
        """The source model as a local directory (built by a conftest hook, local, or from the hub)."""
        if self._source_dir is None:
            built = self.build_source(self.config) if self.build_source else None
            self._source_dir = self._find_source(built or self.config.source.model)
        return self._source_dir

    def _find_source(self, name: str) -> Path:
        """A local directory, or a hub id fetched (or found in the local hub cache); anything else is a
        ConfigError naming ``source.model``. A local-looking path that does not exist is never sent to the hub."""
        local = Path(self.config.resolve(name))
        if local.is_dir():
            return local
        if local.exists() or looks_local(name, self.config.root):
            raise ConfigError(f"source.model = {name!r}: no such directory ({self.config.root / name}); give a "
                              "saved model's folder (relative to the config file) or a hub id such as 'org/name'")
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(name, revision=self.config.source.revision))
        except Exception as exc:  # the hub client raises a dozen types; what it says is what matters
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ConfigError(f"source.model = {name!r}: not a directory beside the config ({self.config.root}) "
                              f"and not a model the hub gives ({type(exc).__name__}: {first})") from None

    @functools.cached_property
    def source_key(self) -> str:
        """The source weights' content key (computed once: the source folder is fixed for the session)."""
        return make_key(kind="source", weights=hash_path(self.source_dir, memo=self.cache.root / "digests.json"))

    # -- artifacts --------------------------------------------------------------------------

    def target(self, name: str) -> TargetConfig:
        if name not in self.config.targets:
            raise KeyError(f"no target {name!r}; declared: {', '.join(self.config.targets)}")
        return self.config.targets[name]

    def build(self, name: str) -> BuiltTarget:
        """Every stage of target ``name``'s recipe, each built once and cached by content."""
        if name in self._built:
            return self._built[name]
        target = self.target(name)
        parent_key, parent_dir, fmt = self.source_key, self.source_dir, ModelFormat.TRANSFORMERS
        stages = []
        for index, step in enumerate(target.recipe):
            method, step_config = step.method, step.config
            key = self.keys.stage(parent_key, target, step, index)
            context = Context(model_task=self.config.source.task, source_format=fmt, hardware=target.hardware,
                              seed=self.config.seed, trust_remote_code=self.config.source.trust_remote_code)
            source_info = {"key": parent_key, "path": str(parent_dir)}
            building = f"compressgate: building {name} stage {index} ({method.name})"

            def run(tmp: Path, step=step_config, src=parent_dir, ctx=context, info=source_info,
                    message=building) -> None:
                self.say(message)
                compress(src, step, tmp, context=ctx, source_info=info)

            path, hit = self.cache.get_or_build("artifacts", key, run, rebuild=self.rebuild)
            artifact = Artifact.load(path)
            stages.append(Stage(index, method.name, key, artifact, hit))
            parent_key, parent_dir, fmt = key, path, artifact.format
        self._built[name] = BuiltTarget(name, stages)
        return self._built[name]

    @property
    def built_targets(self) -> dict[str, BuiltTarget]:
        """The targets built (or found in the cache) so far."""
        return dict(self._built)
