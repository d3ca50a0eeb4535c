"""Hardware targets: registered presets and detection of what the running machine has."""

from __future__ import annotations

from .detect import detect_machine
from .presets import PRESETS, HardwarePreset, Machine

__all__ = ["PRESETS", "HardwarePreset", "Machine", "detect_machine"]
