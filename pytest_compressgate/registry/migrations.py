"""The SQLite registry's schema, as forward migrations.

Each migration runs once, in order, inside the transaction that records it in ``schema_version``; a
file is never migrated backwards, and a file newer than this code is refused rather than guessed at.
Add a migration by appending to ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

from dataclasses import dataclass

APPLICATION = "pytest-compressgate registry"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


def _append_only(table: str, what: str) -> tuple[str, ...]:
    return tuple(
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} BEGIN "
        f"SELECT RAISE(ABORT, 'compressgate registry: {table} are append-only; {what}'); END"
        for verb in ("UPDATE", "DELETE")
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "artifacts, evaluations and approvals", (
        "CREATE TABLE compressgate_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
        "applied_at TEXT NOT NULL)",
        """CREATE TABLE artifacts (
            key            TEXT PRIMARY KEY,
            target         TEXT NOT NULL,
            stage_index    INTEGER NOT NULL CHECK (stage_index >= 0),
            method         TEXT NOT NULL,
            params_json    TEXT NOT NULL,
            recipe_json    TEXT NOT NULL,
            source_key     TEXT NOT NULL,
            parent_key     TEXT,
            hardware       TEXT NOT NULL,
            libraries_json TEXT NOT NULL,
            bytes_on_disk  INTEGER,
            stats_json     TEXT NOT NULL,
            format         TEXT,
            path           TEXT NOT NULL,
            created_at     TEXT NOT NULL
        )""",
        """CREATE TABLE evaluations (
            id               INTEGER PRIMARY KEY AUTOINCREMENT,
            artifact_key     TEXT NOT NULL REFERENCES artifacts(key),
            run_id           TEXT NOT NULL,
            task             TEXT NOT NULL,
            target           TEXT NOT NULL,
            stage            TEXT,
            gated            INTEGER NOT NULL CHECK (gated IN (0, 1)),
            metric           TEXT NOT NULL,
            higher_is_better INTEGER,
            n                INTEGER NOT NULL,
            examples_used    INTEGER,
            source_score     REAL,
            compressed_score REAL,
            score_drop       REAL,
            interval_low     REAL,
            interval_high    REAL,
            confidence       REAL,
            p_value          REAL,
            allowed_drop     REAL,
            decision_mode    TEXT,
            passed           INTEGER NOT NULL CHECK (passed IN (0, 1)),
            failures_json    TEXT NOT NULL,
            warnings_json    TEXT NOT NULL,
            performance_json TEXT NOT NULL,
            recorded_at      TEXT NOT NULL
        )""",
        """CREATE TABLE approvals (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            artifact_key TEXT NOT NULL REFERENCES artifacts(key),
            decision     TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
            who          TEXT NOT NULL CHECK (length(trim(who)) > 0),
            why          TEXT NOT NULL,
            verdict      TEXT NOT NULL,
            forced       INTEGER NOT NULL DEFAULT 0 CHECK (forced IN (0, 1)),
            decided_at   TEXT NOT NULL,
            CHECK (decision = 'approve' OR length(trim(why)) > 0)
        )""",
    )),
    Migration(2, "append-only guards and lookup indexes", (
        "CREATE INDEX evaluations_by_artifact ON evaluations (artifact_key, id)",
        "CREATE INDEX approvals_by_artifact ON approvals (artifact_key, id)",
        "CREATE INDEX artifacts_by_target ON artifacts (target, created_at)",
        *_append_only("artifacts", "a changed artifact has a new content key"),
        *_append_only("evaluations", "a new gate run records a new evaluation"),
        *_append_only("approvals", "record a new decision instead"),
    )),
)

LATEST = MIGRATIONS[-1].version
