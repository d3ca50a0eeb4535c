"""A governed registry of compressed artifacts: recipe, libraries, evaluations, verdict, approvals.

``open_registry(url)`` picks the backend from the URL: ``sqlite:///path`` (embedded, the default) or
``mlflow://<tracking-uri>`` (optional; needs the ``mlflow`` extra). No pytest, no torch here.
"""

from __future__ import annotations

from pathlib import Path

from .base import MIN_PREFIX, ModelRegistry
from .errors import (AmbiguousKeyError, DecisionRefusedError, NotARegistryError, RegistryError, SchemaTooNewError,
                     UnknownArtifactError)
from .model import (ApprovalRecord, ArtifactDetails, ArtifactRecord, Decision, EvaluationRecord, Status, Verdict,
                    default_who, verdict_of)
from .recording import BuiltStage, evaluation_record, new_run_id, record_run

SCHEMES = ("sqlite:///", "mlflow://")


def open_registry(url: str, *, base_dir: str | Path | None = None, create: bool = True) -> ModelRegistry:
    """Open (and, with ``create``, create) the registry at ``url``.

    ``sqlite:///relative/path.db`` is resolved against ``base_dir`` (the config file's folder; default:
    the working directory); ``sqlite:////abs/path.db`` is absolute. ``mlflow://<tracking-uri>`` takes any
    MLflow tracking URI (``mlflow://http://host:5000``, ``mlflow://sqlite:////data/mlflow.db``); append
    ``#NAME`` to use experiment NAME instead of ``compressgate``.
    """
    text = (url or "").strip()
    if text.startswith("sqlite:///"):
        from .sqlite import SqliteRegistry

        path = text[len("sqlite:///"):]
        if not path:
            raise RegistryError(f"registry URL {url!r} names no file: use e.g. sqlite:///.compressgate/registry.db")
        if path != ":memory:" and not Path(path).is_absolute():
            path = str(Path(base_dir or Path.cwd()) / path)
        return SqliteRegistry(path, create=create)
    if text.startswith("mlflow://"):
        from .mlflow_backend import MlflowRegistry

        tracking, _, experiment = text[len("mlflow://"):].partition("#")
        return MlflowRegistry(tracking or None, experiment=experiment or "compressgate", create=create)
    raise RegistryError(
        f"registry URL {url!r} is not supported: use sqlite:///path/to/registry.db (embedded) or "
        "mlflow://<tracking-uri> (MLflow, needs pip install 'pytest-compressgate[mlflow]')")


__all__ = [
    "MIN_PREFIX", "SCHEMES", "AmbiguousKeyError", "ApprovalRecord", "ArtifactDetails", "ArtifactRecord", "BuiltStage",
    "Decision", "DecisionRefusedError", "EvaluationRecord", "ModelRegistry", "NotARegistryError", "RegistryError",
    "SchemaTooNewError", "Status", "UnknownArtifactError", "Verdict", "default_who",
    "evaluation_record", "new_run_id", "open_registry", "record_run", "verdict_of",
]
