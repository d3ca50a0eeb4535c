"""Fixtures for a project's own tests of its compressed models, and their parametrization per target."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ..names import unknown_targets
from .items import skip_at_item
from .stash import OFF_REASON, SESSION

if TYPE_CHECKING:
    from ..gate import GateSession


@pytest.fixture(scope="session")
def compress_gate(request: pytest.FixtureRequest) -> GateSession:
    """The gate session: config, ``.source_dir``, ``.artifact(target)``, ``.evaluate(...)``, ``.compare(...)``."""
    session = request.config.stash.get(SESSION, None)
    if session is None:
        pytest.fail("compress_gate needs a [tool.compressgate] table in pyproject.toml or a compressgate.toml",
                    pytrace=False)
    if not session.options.enabled:
        pytest.skip(OFF_REASON)
    return session


@pytest.fixture(scope="session")
def source_model(compress_gate: GateSession):
    """The source model, loaded for inference (a ``LoadedModel``: ``.model`` and ``.tokenizer``)."""
    return compress_gate.load(compress_gate.source_dir, "source", compress_gate.source_device)


@pytest.fixture
def compressed_model(request: pytest.FixtureRequest, compress_gate: GateSession):
    """The final compressed model of one target; tests using it run once per declared target."""
    target = request.param
    missing = compress_gate.hardware_skip_reason(target)
    if missing:
        if compress_gate.options.require_hardware:
            pytest.fail(f"{missing} (--compress-gate-require-hardware is set)", pytrace=False)
        skip_at_item(missing)
    return compress_gate.compressed_model(target)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test using ``compressed_model`` runs once per target (those its ``compress_gate`` mark names)."""
    if "compressed_model" not in metafunc.fixturenames:
        return
    session = metafunc.config.stash.get(SESSION, None)
    targets = list(session.target_names) if session else []
    marker = metafunc.definition.get_closest_marker("compress_gate")
    wanted = marker.kwargs.get("targets") if marker else None
    if wanted:
        problem = unknown_targets(wanted, session.config.targets if session else ())
        if problem:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: @pytest.mark.compress_gate names {problem}")
        targets = [t for t in targets if t in wanted]
    metafunc.parametrize("compressed_model", targets, indirect=True, ids=targets)
