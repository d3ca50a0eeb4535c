"""Extension points for a project's conftest.py (registered through ``pytest_addhooks``)."""

from __future__ import annotations

import pytest


@pytest.hookspec(firstresult=True)
def pytest_compressgate_build_source(gate_config):
    """Return the path of the source model directory, building it first if needed; None to use the config's.

    Called once per session, the first time the source model is needed (never when the gate is off).
    Use it when the model under test is itself produced by the project, e.g. fine-tuned from a base::

        def pytest_compressgate_build_source(gate_config):
            return str(fine_tune_if_needed(gate_config.cache_dir / "models"))
    """


def pytest_compressgate_comparison(comparison):
    """Called with each ``GateResult`` as soon as it is judged (e.g. to post it to a dashboard)."""
