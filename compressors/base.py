"""The one interface every compression method uses.

A method is a typed config dataclass plus a handler registered under the method's name. ``compress``
dispatches on the config's type (one dict lookup), runs the handler into a temporary directory, writes
the manifest and only then renames the directory into place, so a half-built artifact can never be
mistaken for a whole one.

Built-in methods register by being imported (every module of ``compressors.methods``), not through
entry points: entry points exist only where the distribution's metadata is installed, and a source
checkout or a vendored copy must still have its methods. Installed packages add methods through the
``pytest_compressgate.methods`` entry-point group, loaded once when the registry is first asked for a
name; see ``compressors.registry``.
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
from .typed import from_mapping, resolve_paths

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

    model_task: str = "text-classification"  # the model's head: decides which Auto/ORT model class to load
    source_format: ModelFormat = ModelFormat.TRANSFORMERS
    trust_remote_code: bool = False
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
    # Top-level modules the handler imports (its backends), checked with importlib.util.find_spec when the
    # config loads, so a recipe needing one that is not installed fails then and not mid-build.
    requires: tuple[str, ...] = ()


# The extra of this package that installs each built-in method's backend, for the install hint.
BACKEND_EXTRAS = {"onnx": "onnx", "onnxruntime": "onnx", "neural_compressor": "inc", "gptqmodel": "gptq",
                  "torchao": "torchao"}


class MethodRegistry(Registry[Method]):
    """Methods by name, and by config type for ``compress``'s dispatch (each config class serves one method)."""

    def __init__(self) -> None:
        super().__init__("compression method", group="pytest_compressgate.methods",
                         builtins=_import_builtin_methods, adopt=_adopt_method)
        self.by_config: dict[type, Method] = {}

    def register(self, name: str, item: Method) -> Method:
        other = self.by_config.get(item.config_cls)
        if other is not None:
            raise ValueError(f"{item.config_cls.__name__} already configures method {other.name!r}; give "
                             f"{name!r} a config class of its own (a subclass will do)")
        super().register(name, item)
        self.by_config[item.config_cls] = item
        return item

    def unregister(self, name: str) -> Method:
        item = super().unregister(name)
        self.by_config.pop(item.config_cls, None)
        return item

    def for_config(self, config: Any, where: str = "recipe step") -> Method:
        """The method a typed config belongs to: a dict lookup on its type (then its bases)."""
        self._load()
        for cls in type(config).__mro__:
            if cls in self.by_config:
                return self.by_config[cls]
        raise ConfigError(f"{where}: {type(config).__name__} is not a registered method config")


def _adopt_method(loaded: Any) -> Method:
    if not isinstance(loaded, Method):
        raise TypeError(f"expected a compressors.base.Method (or a module that registers methods), got "
                        f"{type(loaded).__name__}")
    return loaded


def _import_builtin_methods() -> None:
    """Import the built-in method modules (cheap: they import heavy libraries only when run)."""
    from . import builtin  # noqa: F401


METHODS = MethodRegistry()


def register(
    name: str, config_cls: type, *, accepts: tuple[ModelFormat, ...] = (ModelFormat.TRANSFORMERS,),
    produces: ModelFormat | None = None, version: int = 1, requires: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``name``; adding a method never edits the dispatcher. ``requires`` names
    the top-level modules it imports that are not in the core install (``("gptqmodel",)``)."""

    def wrap(handler: Handler) -> Handler:
        doc = (handler.__doc__ or "").strip().splitlines()
        METHODS.register(name, Method(name, config_cls, handler, accepts, doc[0] if doc else "", produces, version,
                                      tuple(requires)))
        return handler

    return wrap


def missing_backend(method: Method, where: str) -> str | None:
    """One line saying which backend ``method`` needs that is not installed, or None."""
    import importlib.util

    for module in method.requires:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a broken parent package, or a module without a spec
            found = False
        if not found:
            extra = BACKEND_EXTRAS.get(module)
            hint = f"pip install 'pytest-compressgate[{extra}]'" if extra else f"install the package providing {module}"
            return f"{where}.method = {method.name!r} needs {module}, which is not installed: {hint}"
    return None


def parse_step(step: Mapping[str, Any] | StepConfig, where: str = "recipe step",
               root: str | os.PathLike[str] | None = None) -> tuple[Method, Any]:
    """Turn ``{"method": ..., **params}`` into its registered method and typed config, with the config's
    declared path fields resolved against ``root`` where given (a typed config is taken as it is)."""
    if isinstance(step, StepConfig):
        return METHODS.for_config(step, where), step
    if not isinstance(step, Mapping) or "method" not in step:
        raise ConfigError(f"{where} must be a table with a 'method' key, got {step!r}")
    name = step["method"]
    if not isinstance(name, str) or name not in METHODS:
        raise ConfigError(f"{where}.method: {METHODS.unknown_message(name)}")
    method = METHODS.get(name)
    config: Any = from_mapping(method.config_cls, step, where, ignore=("method",))
    return method, config if root is None else resolve_paths(config, root)


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
    """Apply one recipe step to the model in ``model_dir`` and write a finished artifact to ``out_dir``.

    ``step`` is a typed method config (what the gate passes: parsed once, when the config loaded) or, for
    library callers, a ``{"method": ..., **params}`` table, parsed here."""
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
            "task": context.model_task,
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


def _ensure_builtin_methods() -> None:
    """Every method registered: the built-ins and the installed entry points (once)."""
    METHODS.names()
