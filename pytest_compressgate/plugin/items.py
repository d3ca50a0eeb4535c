"""The config file as a pytest collector, and one item per declared task x target."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from .stash import OFF_REASON, SESSION

if TYPE_CHECKING:
    from ..result import GateResult


class GateFile(pytest.File):
    """The config file as a collector: one item per declared task x target."""

    def collect(self):
        session = self.config.stash[SESSION]
        for task in session.config.tasks:
            for target in session.target_names:
                item = GateItem.from_parent(self, name=f"{task}[{target}]", task=task, target=target)
                if not session.options.enabled:
                    item.add_marker(pytest.mark.skip(reason=OFF_REASON))
                yield item


class GateItem(pytest.Item):
    def __init__(self, *, task: str, target: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task, self.target = task, target
        self.add_marker(pytest.mark.compress_gate(targets=[target]))

    def runtest(self) -> None:
        from ..assertions import GateFailure

        session = self.config.stash[SESSION]
        missing = session.hardware_skip_reason(self.target)
        if missing:
            artifact = session.artifact(self.target)  # what can be built here is built (and cached)
            message = f"{missing}; artifact built at {artifact.path}"
            if session.options.require_hardware:
                pytest.fail(f"{message} (--compress-gate-require-hardware is set)", pytrace=False)
            skip_at_item(message)
        comparison = session.compare(self.task, self.target)
        for result in session.comparisons_for(self.task, self.target):
            result.nodeid = self.nodeid
            # JSON text, not a dict: --junitxml writes properties as text, and JSON stays machine-readable there
            self.user_properties.append(("compressgate", json.dumps(result.to_json(), default=str)))
            self.config.hook.pytest_compressgate_comparison(comparison=result)
        self.user_properties.extend(junit_properties(comparison))
        if not comparison.passed:
            raise GateFailure(comparison)

    def repr_failure(self, excinfo, style=None):
        from ..assertions import GateFailure
        from ..cache.store import CacheValueError
        from ..config import ConfigError

        if isinstance(excinfo.value, GateFailure):
            return str(excinfo.value)
        if isinstance(excinfo.value, (ConfigError, CacheValueError)):  # the user's to fix: one paragraph
            return f"compress gate: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"compress gate {self.task}[{self.target}]"


def skip_at_item(reason: str) -> None:
    """Skip, reported at the test's own location (the config file for gate items), not at this plugin's line.
    ``_use_item_location`` is how pytest itself places skips from marks; a pytest without it still skips."""
    try:
        exc = pytest.skip.Exception(reason, _use_item_location=True)
    except TypeError:
        pytest.skip(reason)
    raise exc


def junit_properties(c: GateResult) -> list[tuple[str, str]]:
    """The verdict's numbers as flat properties, which ``--junitxml`` reports show per test case."""
    numbers = {"metric": c.metric, "source_score": f"{c.source_score:.4f}",
               "compressed_score": f"{c.compressed_score:.4f}", "drop": f"{c.drop:+.4f}",
               "allowed_drop": f"{c.allowed_drop:.4f}", "n": str(c.n),
               "p_value": "" if c.p_value is None else f"{c.p_value:.3g}", "verdict": "PASS" if c.passed else "FAIL"}
    if c.interval is not None:
        numbers["interval"] = f"[{c.interval.low:+.4f}, {c.interval.high:+.4f}]"
    numbers["outcome"] = c.outcome  # PASS, FAIL or INCONCLUSIVE (which "verdict" passes or fails by policy)
    if c.p_test:
        numbers["p_test"] = c.p_test
    return [(f"compressgate.{name}", value) for name, value in numbers.items()]
