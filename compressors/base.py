"""The one interface every compression method uses.

A method is a typed config dataclass plus a handler registered under the method's name. ``compress``
dispatches on the name, runs the handler into a temporary directory, writes the manifest and only
then renames the directory into place, so a half-built artifact can never be mistaken for a whole one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from .errors import CompressionError, ConfigError
from .registry import Registry
from .typed import from_mapping

MANIFEST = "compressgate-manifest.json"


class ModelFormat(str, Enum):
    TRANSFORMERS = "transformers"  # save_pretrained directory, safetensors weights
    ONNX = "onnx"  # ONNX graph + config.json + tokenizer, read by compressors.onnx.OrtModel
    GPTQ = "gptq"  # gptqmodel/optimum GPTQ checkpoint (safetensors)
    TORCH_QUANTIZED = "torch-quantized"  # a torch-quantized model, reloaded by the loader its method registers


@dataclass(frozen=True)
class StepConfig:
    """Base of every method config. Subclasses add typed, documented fields with defaults."""


@dataclass(frozen=True)
class Context:
    """What a handler may need besides its own config."""

    task: str = "text-classification"  # decides which Auto/ORT model class to load
    source_format: ModelFormat = ModelFormat.TRANSFORMERS
    trust_remote_code: bool = False
    calibration_texts: Callable[[], list[str]] | None = None  # only read by methods that calibrate
    hardware: str | None = None
    seed: int = 0


@dataclass
class Result:
    """What a handler reports: the format it wrote and honest counts of what it changed."""

    format: ModelFormat
    stats: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Path, Any, Path, Context], Result]


@dataclass(frozen=True)
class Method:
    name: str
    config_cls: type
    handler: Handler
    accepts: tuple[ModelFormat, ...] = (ModelFormat.TRANSFORMERS,)
    description: str = ""
    # What the handler writes, declared so a recipe's format chain is checked when the config loads
    # (None: known only after a build). compress() refuses a handler that writes anything else.
    produces: ModelFormat | None = None
    # Bump when a fix changes what the handler writes: the version is in every artifact's cache key and
    # manifest, so artifacts built by the older code are rebuilt instead of reused.
    version: int = 1


METHODS: Registry[Method] = Registry("compression method")


def register(
    name: str, config_cls: type, *, accepts: tuple[ModelFormat, ...] = (ModelFormat.TRANSFORMERS,),
    produces: ModelFormat | None = None, version: int = 1,
) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``name``; adding a method never edits the dispatcher."""

    def wrap(handler: Handler) -> Handler:
        doc = (handler.__doc__ or "").strip().splitlines()
        METHODS.register(name, Method(name, config_cls, handler, accepts, doc[0] if doc else "", produces, version))
        return handler

    return wrap


def parse_step(step: Mapping[str, Any] | StepConfig, where: str = "recipe step") -> tuple[Method, Any]:
    """Turn ``{"method": ..., **params}`` into its registered method and typed config."""
    _ensure_builtin_methods()
    if isinstance(step, StepConfig):
        matches = [m for m in (METHODS.get(n) for n in METHODS) if isinstance(step, m.config_cls)]
        if not matches:
            raise ConfigError(f"{where}: {type(step).__name__} is not a registered method config")
        return matches[0], step
    if not isinstance(step, Mapping) or "method" not in step:
        raise ConfigError(f"{where} must be a table with a 'method' key, got {step!r}")
    name = step["method"]
    if not isinstance(name, str) or name not in METHODS:
        raise ConfigError(f"{where}.method: {METHODS.unknown_message(name)}")
    method = METHODS.get(name)
    return method, from_mapping(method.config_cls, step, where, ignore=("method",))


def step_params(config: Any) -> dict[str, Any]:
    """The canonical, JSON-able parameters of a config (enums as their values)."""
    out = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        out[f.name] = v.value if isinstance(v, Enum) else list(v) if isinstance(v, tuple) else v
    return out


@dataclass(frozen=True)
class Artifact:
    """A finished compressed model: a directory and its manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def format(self) -> ModelFormat:
        return ModelFormat(self.manifest["format"])

    @property
    def method(self) -> str:
        return self.manifest["method"]

    @property
    def stats(self) -> dict[str, Any]:
        return self.manifest.get("stats", {})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Artifact:
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{path} is not a compressgate artifact: {MANIFEST} is missing")
        return cls(path, json.loads(manifest_path.read_text()))


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def library_versions(*names: str) -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


CORE_LIBRARIES = ("torch", "transformers", "onnx", "onnxruntime", "neural-compressor", "gptqmodel", "torchao",
                  "safetensors")


def compress(
    model_dir: str | os.PathLike[str],
    step: Mapping[str, Any] | StepConfig,
    out_dir: str | os.PathLike[str],
    *,
    context: Context | None = None,
    source_info: Mapping[str, Any] | None = None,
) -> Artifact:
    """Apply one recipe step to the model in ``model_dir`` and write a finished artifact to ``out_dir``."""
    method, config = parse_step(step)
    context = context or Context()
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if context.source_format not in method.accepts:
        allowed = ", ".join(f.value for f in method.accepts)
        raise ConfigError(
            f"method {method.name!r} cannot take a {context.source_format.value} model as input "
            f"(it accepts: {allowed}); put it earlier in the recipe"
        )
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} already exists; refusing to overwrite an artifact")
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    started = time.perf_counter()
    try:
        result = method.handler(model_dir, config, tmp, context)
        if not isinstance(result, Result):
            raise CompressionError(f"handler for {method.name!r} returned {result!r}, not a Result")
        if method.produces is not None and result.format is not method.produces:
            raise CompressionError(f"handler for {method.name!r} wrote a {result.format.value} model but is "
                                   f"registered as producing {method.produces.value}")
        manifest = {
            "method": method.name,
            "method_version": method.version,
            "params": step_params(config),
            "format": result.format.value,
            "task": context.task,
            "hardware": context.hardware,
            "source": dict(source_info or {"path": str(model_dir)}),
            "stats": result.stats,
            "bytes_on_disk": directory_bytes(tmp),
            "libraries": library_versions(*CORE_LIBRARIES),
            "seconds": round(time.perf_counter() - started, 3),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Artifact(out_dir, manifest)


_LOADED = False


def _ensure_builtin_methods() -> None:
    """Import the built-in method modules (cheap: they import heavy libraries only when run)."""
    global _LOADED
    if not _LOADED:
        _LOADED = True
        from . import builtin  # noqa: F401
