"""Find the gate's config file without importing anything heavy (runs on every pytest start)."""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "compressgate.toml"


class ConfigNotFound(FileNotFoundError):
    pass


def find_config(rootdir: Path, explicit: str | None = None) -> Path | None:
    """``explicit`` if given; else ``compressgate.toml``, else a pyproject.toml with ``[tool.compressgate]``."""
    if explicit:
        path = Path(explicit)
        path = path if path.is_absolute() else rootdir / path
        if not path.is_file():
            raise ConfigNotFound(f"compress gate config {path} does not exist")
        return path
    if (rootdir / CONFIG_FILE).is_file():
        return rootdir / CONFIG_FILE
    pyproject = rootdir / "pyproject.toml"
    if pyproject.is_file() and b"[tool.compressgate" in pyproject.read_bytes():
        return pyproject
    return None
