"""What the running machine has: CPU architecture and flags, CUDA devices and their compute capability."""

from __future__ import annotations

import functools
import platform
import sys
from pathlib import Path

from ..gpus import NVIDIA_GPUS
from .presets import Machine


def cpu_flags() -> frozenset[str]:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cuda_devices() -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """CUDA devices and their compute capability. torch is asked only where an NVIDIA driver exists
    (or torch is already loaded): on a CPU machine a warm gate run never pays torch's import."""
    if "torch" not in sys.modules and not NVIDIA_GPUS.is_dir():
        return (), ()
    try:
        import torch
    except ImportError:
        return (), ()
    if not torch.cuda.is_available():
        return (), ()
    count = torch.cuda.device_count()
    names = tuple(torch.cuda.get_device_name(i) for i in range(count))
    caps = tuple(tuple(torch.cuda.get_device_capability(i)) for i in range(count))
    return names, caps  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def detect_machine() -> Machine:
    names, caps = cuda_devices()
    return Machine(arch=platform.machine(), cpu_flags=cpu_flags(), cuda_devices=names, cuda_capabilities=caps)
