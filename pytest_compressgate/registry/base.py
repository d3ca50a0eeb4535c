"""The registry's public API, the same for every backend.

A backend supplies storage primitives (insert an artifact, an evaluation, a decision; read them back;
a transaction); everything a user sees — key prefixes, verdicts, the rules for approving and
rejecting, the model card — is decided here, once.
"""

from __future__ import annotations

import abc
import dataclasses
import difflib
import re
from contextlib import AbstractContextManager
from typing import Any

from .errors import AmbiguousKeyError, DecisionRefusedError, RegistryError, UnknownArtifactError
from .model import (ApprovalRecord, ArtifactDetails, ArtifactRecord, Decision, EvaluationRecord, Verdict,
                    default_who)

MIN_PREFIX = 6
KEY_PATTERN = re.compile(r"[0-9a-f]{8,64}")
LIST_HINT = "`compressgate registry list` shows every key"


class ModelRegistry(abc.ABC):
    """A governed store of compressed artifacts, their evaluations and their approval history."""

    url: str

    # -- what a backend provides ------------------------------------------------------------

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[None]:
        """All writes inside commit together or not at all; nesting joins the outer transaction."""

    @abc.abstractmethod
    def _insert_artifact(self, record: ArtifactRecord) -> bool:
        """Store the record unless its key is already there; True if it was new."""

    @abc.abstractmethod
    def _insert_evaluation(self, record: EvaluationRecord) -> int:
        """Append the evaluation; return its id (which orders evaluations)."""

    @abc.abstractmethod
    def _insert_approval(self, record: ApprovalRecord) -> int:
        """Append the decision; return its id."""

    @abc.abstractmethod
    def _artifacts(self, *, prefix: str | None = None, target: str | None = None) -> list[ArtifactRecord]:
        """Artifact records, oldest first, optionally those whose key starts with ``prefix``."""

    def _get(self, key: str) -> ArtifactRecord | None:
        """The artifact with exactly this key, or None."""
        if not KEY_PATTERN.fullmatch(key or ""):
            return None
        return next((a for a in self._artifacts(prefix=key) if a.key == key), None)

    @abc.abstractmethod
    def _details(self, record: ArtifactRecord) -> ArtifactDetails:
        """The artifact with all its evaluations and decisions, oldest first."""

    def close(self) -> None:  # noqa: B027 - deliberately not abstract: a default that backends may override
        """Release connections; the registry cannot be used afterwards.

        A no-op here rather than abstract: only a backend that holds a connection of its own (SQLite)
        has something to release and overrides it; the MLflow backend holds none.
        """

    def __enter__(self) -> ModelRegistry:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------

    def batch(self) -> AbstractContextManager[None]:
        """Group several writes into one transaction: ``with registry.batch(): ...``."""
        return self._transaction()

    def record_artifact(self, record: ArtifactRecord) -> bool:
        """Register a built artifact. Recording the same content key again keeps the first record."""
        if not KEY_PATTERN.fullmatch(record.key):
            raise RegistryError(
                f"artifact key {record.key!r} is not a content key (8 to 64 lowercase hex digits, as "
                "pytest_compressgate.cache.make_key returns); pass the stage's key")
        if not record.target or not record.method:
            raise RegistryError(f"artifact {record.key}: target and method must not be empty")
        with self._transaction():
            return self._insert_artifact(record)

    def record_evaluation(self, record: EvaluationRecord) -> int:
        """Append one evaluation of a registered artifact; earlier evaluations are never replaced."""
        if not record.run_id:
            raise RegistryError(f"evaluation of {record.task}[{record.target}]: run_id must not be empty")
        with self._transaction():
            if self._get(record.artifact_key) is None:
                raise UnknownArtifactError(
                    f"cannot record an evaluation for unknown artifact {record.artifact_key!r}: "
                    "record the artifact first (record_artifact)")
            return self._insert_evaluation(record)

    def approve(self, key_or_prefix: str, *, who: str | None = None, why: str = "",
                force: bool = False) -> ApprovalRecord:
        """Approve an artifact for release. A failing artifact needs ``force=True`` and a reason."""
        return self._decide(key_or_prefix, Decision.APPROVE, who=who, why=why, force=force)

    def reject(self, key_or_prefix: str, *, who: str | None = None, why: str) -> ApprovalRecord:
        """Reject an artifact (also after an approval: a new decision, the old one stays)."""
        return self._decide(key_or_prefix, Decision.REJECT, who=who, why=why, force=False)

    def _decide(self, key_or_prefix: str, decision: Decision, *, who: str | None, why: str | None,
                force: bool) -> ApprovalRecord:
        why = (why or "").strip()
        who = (who if who is not None else default_who()).strip()
        if not who:
            raise DecisionRefusedError("who must not be empty: pass who= (--who NAME) or set $COMPRESSGATE_USER")
        if decision is Decision.REJECT and not why:
            raise DecisionRefusedError("a rejection needs a reason: pass why='...' (--why TEXT)")
        with self._transaction():  # the verdict checked is the verdict recorded, even with writers racing
            details = self.show(key_or_prefix)
            verdict = details.verdict
            if decision is Decision.APPROVE and verdict is Verdict.FAIL:
                if not force:
                    failing = "; ".join(f"{e.task}[{e.target}]: {'; '.join(e.failures) or 'failed'}"
                                        for e in details.latest if e.gated and not e.passed)
                    raise DecisionRefusedError(
                        f"artifact {details.key[:12]} ({details.artifact.target} {details.artifact.stage}) failed "
                        f"its latest gate ({failing}): fix the recipe or thresholds and rerun the gate, or approve "
                        "it anyway with force=True (--force) and a reason")
                if not why:
                    raise DecisionRefusedError("a forced approval needs a reason: pass why='...' (--why TEXT)")
            record = ApprovalRecord(artifact_key=details.key, decision=decision, who=who, why=why,
                                    verdict=verdict, forced=bool(force and verdict is Verdict.FAIL))
            new_id = self._insert_approval(record)
        return dataclasses.replace(record, id=new_id)

    # -- reading ----------------------------------------------------------------------------

    def resolve(self, key_or_prefix: str) -> ArtifactRecord:
        """The one artifact whose key is, or starts with, ``key_or_prefix`` (at least 6 hex digits)."""
        text = (key_or_prefix or "").strip().lower()
        if not re.fullmatch(r"[0-9a-f]+", text):
            raise UnknownArtifactError(f"{key_or_prefix!r} is not an artifact key (keys are hexadecimal); {LIST_HINT}")
        if len(text) < MIN_PREFIX:
            raise AmbiguousKeyError(
                f"key prefix {text!r} is too short: give at least {MIN_PREFIX} characters of the key; {LIST_HINT}")
        matches = self._artifacts(prefix=text)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise AmbiguousKeyError(
                f"key prefix {text!r} matches {len(matches)} artifacts: {_describe(matches)}; give more characters")
        known = self._artifacts()
        if not known:
            raise UnknownArtifactError(
                f"no artifact {text!r}: the registry at {self.url} is empty; run `pytest --compress-gate` or "
                "`compressgate build` to record artifacts")
        close = difflib.get_close_matches(text, [a.key[:len(text)] for a in known], n=5, cutoff=0.5)
        candidates = [a for a in known if a.key[:len(text)] in close] or known[-5:]
        raise UnknownArtifactError(
            f"no artifact {text!r} in {self.url}; candidates: {_describe(candidates)}; {LIST_HINT}")

    def show(self, key_or_prefix: str) -> ArtifactDetails:
        """Everything about one artifact: record, evaluations, decisions, verdict, status."""
        return self._details(self.resolve(key_or_prefix))

    def list_artifacts(self, target: str | None = None) -> list[ArtifactDetails]:
        """Every artifact (of ``target``), oldest first, each with its verdict and status."""
        return [self._details(record) for record in self._artifacts(target=target)]

    def lineage(self, key_or_prefix: str) -> list[ArtifactDetails]:
        """The artifact's recipe stages that are registered, first stage first, ending with it."""
        chain = [self.show(key_or_prefix)]
        seen = {chain[0].key}
        while chain[0].artifact.parent_key and chain[0].artifact.stage_index > 0:
            parent = self._get(chain[0].artifact.parent_key)
            if parent is None or parent.key in seen:
                break
            seen.add(parent.key)
            chain.insert(0, self._details(parent))
        return chain

    def card(self, key_or_prefix: str) -> str:
        """A Markdown model card: recipe, libraries, sizes, evaluations per stage, verdict, decisions."""
        from .card import render_card

        return render_card(self.lineage(key_or_prefix))


def _describe(records: list[ArtifactRecord]) -> str:
    return ", ".join(f"{r.key[:12]} ({r.target} {r.stage})" for r in records)
