"""The registry on an MLflow tracking server (``registry = "mlflow://<tracking-uri>"``).

Each artifact is one MLflow run in the ``compressgate`` experiment: params are its recipe (this stage's
parameters, the whole target's recipe, library versions), metrics are its evaluation results (one
history per task and target), tags carry the verdict and release status for MLflow's UI and search.
The authoritative records — the artifact, every evaluation, every decision — are JSON in tags whose
names never repeat (``compressgate.evaluation.<time_ns>-<random>``), so appending never overwrites.

MLflow has no transactions across calls: each record is written by one ``log_batch`` call, and a
``batch()`` of several records is not atomic. Two processes registering one new key at once may make
two runs; reads merge every run of a key (the earliest is the canonical one), so nothing is lost.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from .base import ModelRegistry
from .errors import RegistryError
from .model import (ApprovalRecord, ArtifactDetails, ArtifactRecord, Decision, EvaluationRecord, Verdict,
                    verdict_of)

PREFIX = "compressgate."
CHUNK = 5000  # MLflow caps tag values at 8000 characters; long JSON is split over numbered tags
PARAM_MAX = 6000
NUMERIC_FIELDS = ("source_score", "compressed_score", "drop", "allowed_drop", "interval_low", "interval_high",
                  "p_value")


class MlflowRegistry(ModelRegistry):
    def __init__(self, tracking_uri: str | None, *, experiment: str = "compressgate", create: bool = True) -> None:
        from compressors.errors import require

        require("mlflow", extra="mlflow", purpose='the MLflow registry backend (registry = "mlflow://...")')
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri or None)
        self.url = f"mlflow://{tracking_uri or self.client.tracking_uri}"
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            if not create:
                raise RegistryError(f"no experiment {experiment!r} at {self.url}: run `pytest --compress-gate` "
                                    "or `compressgate build` to record artifacts there first")
            with suppress(MlflowException):  # another process created it first
                self.client.create_experiment(experiment, tags={PREFIX + "registry": "1"})
            found = self.client.get_experiment_by_name(experiment)
            if found is None:
                raise RegistryError(f"could not create the experiment {experiment!r} at {self.url}")
        self.experiment_id = found.experiment_id

    # -- writing ----------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        yield  # see the module docstring: each record is one log_batch call

    def _insert_artifact(self, record: ArtifactRecord) -> bool:
        from mlflow.entities import Metric, Param, RunTag

        if self._runs(key=record.key):
            return False
        tags = {PREFIX + "target": record.target, PREFIX + "stage": record.stage, PREFIX + "hardware": record.hardware,
                PREFIX + "verdict": Verdict.UNEVALUATED.value, PREFIX + "status": "pending",
                **_chunked(PREFIX + "record", record.to_json()),
                PREFIX + "kind": "artifact"}  # last: the run becomes visible only once its record is whole
        run = self.client.create_run(self.experiment_id, run_name=f"{record.target}/{record.stage}/{record.key[:8]}",
                                     tags={PREFIX + "key": record.key, PREFIX + "kind": "pending-artifact"})
        params = {"target": record.target, "stage_index": record.stage_index, "method": record.method,
                  "hardware": record.hardware, "recipe": json.dumps(record.recipe, sort_keys=True, default=str),
                  **{f"step.{k}": v for k, v in record.params.items()},
                  **{f"library.{k}": v for k, v in record.libraries.items()}}
        now = int(time.time() * 1000)
        metrics = [Metric(f"stats.{k}", float(v), now, 0) for k, v in record.stats.items() if _is_number(v)]
        if record.bytes_on_disk is not None:
            metrics.append(Metric("bytes_on_disk", float(record.bytes_on_disk), now, 0))
        self._log(run.info.run_id, metrics=metrics,
                  params=[Param(_key(k), _text(v)[:PARAM_MAX]) for k, v in params.items()],
                  tags=[RunTag(k, v) for k, v in tags.items()])
        self.client.set_terminated(run.info.run_id)
        return True

    def _insert_evaluation(self, record: EvaluationRecord) -> int:
        from mlflow.entities import Metric, RunTag

        run_id = self._canonical(record.artifact_key)
        now, base = int(time.time() * 1000), _key(f"{record.task}/{record.target}")
        values = {name: getattr(record, name) for name in NUMERIC_FIELDS}
        metrics = [Metric(f"{base}/{name}", float(v), now, 0) for name, v in values.items() if v is not None]
        metrics.append(Metric(f"{base}/passed", float(record.passed), now, 0))
        tags = _chunked(f"{PREFIX}evaluation.{_seq()}", record.to_json())
        self._log(run_id, metrics=metrics, tags=[RunTag(k, v) for k, v in tags.items()])
        details = self._details(self._record(record.artifact_key))
        self.client.set_tag(run_id, PREFIX + "verdict", verdict_of(details.evaluations).value)
        return len(details.evaluations)

    def _insert_approval(self, record: ApprovalRecord) -> int:
        from mlflow.entities import RunTag

        run_id = self._canonical(record.artifact_key)
        tags = _chunked(f"{PREFIX}approval.{_seq()}", record.to_json())
        status = "approved" if record.decision is Decision.APPROVE else "rejected"
        self._log(run_id, tags=[RunTag(k, v) for k, v in {**tags, PREFIX + "status": status}.items()])
        return len(self._details(self._record(record.artifact_key)).approvals)

    def _log(self, run_id: str, *, metrics=(), params=(), tags=()) -> None:
        """log_batch within MLflow's per-call limits (1000 metrics, 100 params + tags)."""
        metrics, entities = list(metrics), [("params", p) for p in params] + [("tags", t) for t in tags]
        while metrics or entities:
            head, entities = entities[:100], entities[100:]
            self.client.log_batch(run_id, metrics=metrics[:1000],
                                  params=[e for kind, e in head if kind == "params"],
                                  tags=[e for kind, e in head if kind == "tags"])
            metrics = metrics[1000:]

    # -- reading ----------------------------------------------------------------------------

    def _runs(self, *, key: str | None = None, prefix: str | None = None, target: str | None = None) -> list[Any]:
        clauses = [f"tags.`{PREFIX}kind` = 'artifact'"]
        if key is not None:
            clauses.append(f"tags.`{PREFIX}key` = '{_quote(key)}'")
        if prefix is not None:
            clauses.append(f"tags.`{PREFIX}key` LIKE '{_quote(prefix)}%'")
        if target is not None:
            clauses.append(f"tags.`{PREFIX}target` = '{_quote(target)}'")
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], filter_string=" AND ".join(clauses),
                                           max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                break
        return sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))

    def _canonical(self, key: str) -> str:
        runs = self._runs(key=key)
        if not runs:
            raise RegistryError(f"artifact {key} has no run in {self.url}; record the artifact first")
        return runs[0].info.run_id

    def _record(self, key: str) -> ArtifactRecord:
        return _artifact(self._runs(key=key)[0])

    def _artifacts(self, *, prefix: str | None = None, target: str | None = None) -> list[ArtifactRecord]:
        canonical: dict[str, Any] = {}
        for run in self._runs(prefix=prefix, target=target):
            canonical.setdefault(run.data.tags[PREFIX + "key"], run)
        records = [_artifact(run) for run in canonical.values()]
        return sorted(records, key=lambda r: (r.created_at, r.key))

    def _details(self, record: ArtifactRecord) -> ArtifactDetails:
        tags: dict[str, str] = {}
        for run in self._runs(key=record.key):  # every run of the key: a racing duplicate loses nothing
            tags.update(run.data.tags)
        evaluations = [_evaluation(data, i + 1) for i, data in enumerate(_collect(tags, PREFIX + "evaluation."))]
        approvals = [_approval(data, i + 1) for i, data in enumerate(_collect(tags, PREFIX + "approval."))]
        return ArtifactDetails(record, evaluations, approvals)


def _seq() -> str:
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


def _chunked(name: str, value: Any) -> dict[str, str]:
    text = json.dumps(value, sort_keys=True, default=str)
    return {f"{name}.{i}": text[start:start + CHUNK] for i, start in enumerate(range(0, max(len(text), 1), CHUNK))}


def _unchunk(tags: dict[str, str], name: str) -> Any:
    parts, i = [], 0
    while f"{name}.{i}" in tags:
        parts.append(tags[f"{name}.{i}"])
        i += 1
    return json.loads("".join(parts))


def _collect(tags: dict[str, str], prefix: str) -> list[dict[str, Any]]:
    """The JSON records under ``prefix<seq>.<chunk>``, in ``seq`` (time) order."""
    names = sorted({k[len(prefix):].rsplit(".", 1)[0] for k in tags if k.startswith(prefix)})
    return [_unchunk(tags, prefix + seq) for seq in names]


def _artifact(run: Any) -> ArtifactRecord:
    return ArtifactRecord(**_unchunk(run.data.tags, PREFIX + "record"))


def _evaluation(data: dict[str, Any], index: int) -> EvaluationRecord:
    return EvaluationRecord(**{**data, "id": index})


def _approval(data: dict[str, Any], index: int) -> ApprovalRecord:
    return ApprovalRecord(**{**data, "decision": Decision(data["decision"]), "verdict": Verdict(data["verdict"]),
                             "id": index})


def _key(name: str) -> str:
    """MLflow keys allow letters, digits, ``_ - . / :`` and spaces."""
    return re.sub(r"[^A-Za-z0-9_\-./: ]", "_", name)


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
