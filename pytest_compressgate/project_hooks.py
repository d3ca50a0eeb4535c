"""A project's gate hooks read without pytest, for the ``compressgate`` command.

pytest imports a rootdir ``conftest.py`` with its folder first on ``sys.path`` and calls the
``pytest_compressgate_build_source`` hook from there; ``compressgate build`` does the same, so the CLI
builds the same source (say, a model the project fine-tunes itself) as the plugin, offline.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from compressors.errors import ConfigError


def source_builder(config: Any, source: Path | None) -> tuple[Any, str]:
    """How ``build`` finds the source: ``--source``, else the conftest.py hook beside the config, else none."""
    if source is not None:
        return (lambda cfg: str(source)), "--source"
    hook = conftest_hook(config.root)
    if hook is None:
        return None, ""
    return (lambda cfg: hook(gate_config=cfg)), "from conftest.py's pytest_compressgate_build_source"


def conftest_hook(root: Path) -> Any:
    """``pytest_compressgate_build_source`` from ``root/conftest.py``, imported as pytest imports a rootdir
    conftest (its folder first on ``sys.path``, so it can import its neighbours); None without one."""
    import hashlib
    import importlib.util

    path = root / "conftest.py"
    if not path.is_file():
        return None
    name = f"compressgate_conftest_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:  # only for paths Python cannot import; a .py file always can
            raise ConfigError(f"{path}: Python cannot import it as a module")
        module = importlib.util.module_from_spec(spec)
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise ConfigError(f"{path}: importing it failed: {type(exc).__name__}: {exc}") from exc
    return getattr(sys.modules[name], "pytest_compressgate_build_source", None)
