"""The embedded registry: one SQLite file, safe for several processes (pytest-xdist workers) at once.

WAL mode lets readers work while one process writes; every write runs in ``BEGIN IMMEDIATE``, so
writers queue on the file lock (up to the busy timeout) instead of failing halfway, and a write that
raises rolls back whole.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .base import ModelRegistry
from .errors import NotARegistryError, RegistryError, SchemaTooNewError
from .migrations import APPLICATION, LATEST, MIGRATIONS
from .model import (ApprovalRecord, ArtifactDetails, ArtifactRecord, Decision, EvaluationRecord, Verdict,
                    utc_now)

T = TypeVar("T")
NEW_FILE_HINT = "point `registry =` (or --url) at a new file, e.g. sqlite:///.compressgate/registry.db"


class SqliteRegistry(ModelRegistry):
    def __init__(self, path: str | Path, *, create: bool = True, busy_timeout_s: float = 60.0,
                 migrate_to: int = LATEST) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        self.url = f"sqlite:///{self.path}" if self.path else "sqlite:///:memory:"
        self.busy_timeout_s = busy_timeout_s
        if self.path is not None:
            if not self.path.exists():
                if not create:
                    raise RegistryError(
                        f"no registry at {self.path}: run `pytest --compress-gate` or `compressgate build` to "
                        "create it, or pass --url / --config to use another registry")
                self.path.parent.mkdir(parents=True, exist_ok=True)
            elif self.path.is_dir():
                raise NotARegistryError(f"{self.path} is a directory, not a registry file; {NEW_FILE_HINT}")
        self._depth = 0
        self._conn = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None)
        try:
            self._retry_locked(self._setup)
            self._retry_locked(self._check_version)  # before WAL: another application's file stays untouched
            self._retry_locked(self._use_wal)
            self._retry_locked(lambda: self._migrate(migrate_to))
        except BaseException:
            self._conn.close()
            raise

    # -- connection and schema --------------------------------------------------------------

    def _setup(self) -> None:
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA synchronous = FULL")  # a committed decision survives a power cut
        except sqlite3.DatabaseError as exc:
            if _is_locked(exc):
                raise
            raise NotARegistryError(
                f"{self.path} is not a compressgate registry (SQLite: {exc}); {NEW_FILE_HINT}") from None

    def _use_wal(self) -> None:
        """Readers never block the writer, and writers from other processes queue instead of failing."""
        if self.path is not None:
            self._conn.execute("PRAGMA journal_mode = WAL")

    def _retry_locked(self, step: Callable[[], T]) -> T:
        """Opening races other processes creating the same file; SQLite may answer 'locked' at once."""
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                return step()
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def schema_version(self) -> int:
        tables = self._tables()
        if not tables:
            return 0
        if "compressgate_meta" not in tables or "schema_version" not in tables:
            raise NotARegistryError(
                f"{self.path} is not a compressgate registry: it holds tables {', '.join(sorted(tables))}; "
                f"{NEW_FILE_HINT}")
        row = self._conn.execute("SELECT value FROM compressgate_meta WHERE name = 'application'").fetchone()
        if row is None or row[0] != APPLICATION:
            raise NotARegistryError(f"{self.path} is not a compressgate registry (no application marker); "
                                    f"{NEW_FILE_HINT}")
        return int(self._conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])

    def _tables(self) -> set[str]:
        rows = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return {r[0] for r in rows}

    def _migrate(self, target: int) -> None:
        if self._check_version() >= target:
            return
        with self._transaction():  # re-read under the write lock: another process may have migrated
            current = self._check_version()
            for migration in MIGRATIONS:
                if current < migration.version <= target:
                    for statement in migration.statements:
                        self._conn.execute(statement)
                    if migration.version == 1:
                        self._conn.executemany("INSERT INTO compressgate_meta VALUES (?, ?)",
                                               [("application", APPLICATION), ("created_at", utc_now())])
                    self._conn.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                                       (migration.version, migration.description, utc_now()))

    def _check_version(self) -> int:
        try:
            version = self.schema_version()
        except sqlite3.DatabaseError as exc:
            if _is_locked(exc):
                raise
            raise NotARegistryError(
                f"{self.path} is not a compressgate registry (SQLite: {exc}); {NEW_FILE_HINT}") from None
        if version > LATEST:
            from .. import __version__

            raise SchemaTooNewError(
                f"{self.path} has registry schema version {version}, but pytest-compressgate {__version__} knows "
                f"only up to {LATEST}: upgrade pytest-compressgate (pip install -U pytest-compressgate) to use it")
        return version

    def close(self) -> None:
        self._conn.close()

    # -- transactions -----------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE at the outside (queue for the write lock now, not at the first write);
        a savepoint inside, so a failing inner block rolls back only itself."""
        depth = self._depth
        name = f"cg_{depth}"
        self._conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {name}")
        self._depth = depth + 1
        try:
            yield
            self._conn.execute("COMMIT" if depth == 0 else f"RELEASE {name}")
        except BaseException:
            if depth == 0:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            else:
                self._conn.execute(f"ROLLBACK TO {name}")
                self._conn.execute(f"RELEASE {name}")
            raise
        finally:
            self._depth = depth

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """Several reads that see one consistent state of the file."""
        if self._depth:
            yield
            return
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")

    # -- storage primitives -----------------------------------------------------------------

    def _insert_artifact(self, record: ArtifactRecord) -> bool:
        cursor = self._conn.execute(
            "INSERT INTO artifacts (key, target, stage_index, method, params_json, recipe_json, source_key, "
            "parent_key, hardware, libraries_json, bytes_on_disk, stats_json, format, path, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
            (record.key, record.target, record.stage_index, record.method, _dump(record.params),
             _dump(record.recipe), record.source_key, record.parent_key, record.hardware, _dump(record.libraries),
             record.bytes_on_disk, _dump(record.stats), record.format, record.path, record.created_at))
        return cursor.rowcount == 1

    def _insert_evaluation(self, record: EvaluationRecord) -> int:
        cursor = self._conn.execute(
            "INSERT INTO evaluations (artifact_key, run_id, task, target, stage, gated, metric, higher_is_better, n, "
            "examples_used, source_score, compressed_score, score_drop, interval_low, interval_high, confidence, "
            "p_value, allowed_drop, decision_mode, passed, failures_json, warnings_json, performance_json, "
            "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.artifact_key, record.run_id, record.task, record.target, record.stage, int(record.gated),
             record.metric, None if record.higher_is_better is None else int(record.higher_is_better), record.n,
             record.examples_used, record.source_score, record.compressed_score, record.drop, record.interval_low,
             record.interval_high, record.confidence, record.p_value, record.allowed_drop, record.decision_mode,
             int(record.passed), _dump(record.failures), _dump(record.warnings), _dump(record.performance),
             record.recorded_at))
        return _inserted_id(cursor)

    def _insert_approval(self, record: ApprovalRecord) -> int:
        cursor = self._conn.execute(
            "INSERT INTO approvals (artifact_key, decision, who, why, verdict, forced, decided_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record.artifact_key, record.decision.value, record.who, record.why, record.verdict.value,
             int(record.forced), record.decided_at))
        return _inserted_id(cursor)

    def _artifacts(self, *, prefix: str | None = None, target: str | None = None) -> list[ArtifactRecord]:
        clauses, args = [], []
        if prefix is not None:
            clauses.append("substr(key, 1, ?) = ?")
            args += [len(prefix), prefix]
        if target is not None:
            clauses.append("target = ?")
            args.append(target)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(f"SELECT * FROM artifacts{where} ORDER BY created_at, rowid", args)
        return [_artifact(row) for row in rows]

    def _details(self, record: ArtifactRecord) -> ArtifactDetails:
        with self._snapshot():
            evaluations = self._query("SELECT * FROM evaluations WHERE artifact_key = ? ORDER BY id", [record.key])
            approvals = self._query("SELECT * FROM approvals WHERE artifact_key = ? ORDER BY id", [record.key])
        return ArtifactDetails(record, [_evaluation(r) for r in evaluations], [_approval(r) for r in approvals])

    def _query(self, sql: str, args: list[Any]) -> list[dict[str, Any]]:
        cursor = self._conn.execute(sql, args)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def _is_locked(exc: sqlite3.Error) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _inserted_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT on ``cursor`` just added (``lastrowid`` is None only before any INSERT)."""
    if cursor.lastrowid is None:
        raise RegistryError("SQLite gave no id for the row just inserted")
    return cursor.lastrowid


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _artifact(row: dict[str, Any]) -> ArtifactRecord:
    return ArtifactRecord(
        key=row["key"], target=row["target"], stage_index=row["stage_index"], method=row["method"],
        params=json.loads(row["params_json"]), recipe=json.loads(row["recipe_json"]), source_key=row["source_key"],
        parent_key=row["parent_key"], hardware=row["hardware"], libraries=json.loads(row["libraries_json"]),
        bytes_on_disk=row["bytes_on_disk"], stats=json.loads(row["stats_json"]), format=row["format"],
        path=row["path"], created_at=row["created_at"])


def _evaluation(row: dict[str, Any]) -> EvaluationRecord:
    hib = row["higher_is_better"]
    return EvaluationRecord(
        id=row["id"], artifact_key=row["artifact_key"], run_id=row["run_id"], task=row["task"], target=row["target"],
        stage=row["stage"], gated=bool(row["gated"]), metric=row["metric"],
        higher_is_better=None if hib is None else bool(hib), n=row["n"], examples_used=row["examples_used"],
        source_score=row["source_score"], compressed_score=row["compressed_score"], drop=row["score_drop"],
        interval_low=row["interval_low"], interval_high=row["interval_high"], confidence=row["confidence"],
        p_value=row["p_value"], allowed_drop=row["allowed_drop"], decision_mode=row["decision_mode"],
        passed=bool(row["passed"]), failures=json.loads(row["failures_json"]),
        warnings=json.loads(row["warnings_json"]), performance=json.loads(row["performance_json"]),
        recorded_at=row["recorded_at"])


def _approval(row: dict[str, Any]) -> ApprovalRecord:
    return ApprovalRecord(
        id=row["id"], artifact_key=row["artifact_key"], decision=Decision(row["decision"]), who=row["who"],
        why=row["why"], verdict=Verdict(row["verdict"]), forced=bool(row["forced"]), decided_at=row["decided_at"])
