"""One GPU per pytest-xdist worker: each worker sees one GPU, so targets run side by side on several GPUs.

pytest-xdist names its workers ``gw0``, ``gw1``, ... in ``PYTEST_XDIST_WORKER``. Worker *i* is given GPU
``i mod n`` of the GPUs the controller could see (``CUDA_VISIBLE_DEVICES`` if set, else every GPU the NVIDIA
driver lists) by narrowing its own ``CUDA_VISIBLE_DEVICES`` to that one id, before anything in it initializes
CUDA (torch reads the variable when CUDA is first used, not at import). More workers than GPUs share them
round-robin. Inside the worker the GPU is ``cuda:0``; :func:`physical_device` names the real one for reports.

Never imports torch: this runs in ``pytest_configure`` of every worker.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from pathlib import Path

VISIBLE = "CUDA_VISIBLE_DEVICES"
ASSIGNED = "COMPRESSGATE_WORKER_GPU"  # the id this process was given, kept for reports
_WORKER = re.compile(r"^gw(\d+)$")
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one entry per GPU the NVIDIA driver sees


def driver_gpus(proc: Path = NVIDIA_GPUS) -> list[str]:
    """Ids of the GPUs the NVIDIA driver lists (``0``..``n-1``), without initializing CUDA."""
    if not proc.is_dir():
        return []
    return [str(i) for i in range(len(list(proc.iterdir())))]


def visible_gpus(environ: MutableMapping[str, str], proc: Path = NVIDIA_GPUS) -> list[str]:
    """The GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` as given (ids or UUIDs), else the driver's."""
    if VISIBLE in environ:
        return [part.strip() for part in environ[VISIBLE].split(",") if part.strip() and part.strip() != "-1"]
    return driver_gpus(proc)


def worker_index(worker_id: str | None) -> int | None:
    match = _WORKER.match(worker_id or "")
    return int(match.group(1)) if match else None


def pin_worker_gpu(environ: MutableMapping[str, str], proc: Path = NVIDIA_GPUS) -> str | None:
    """Narrow an xdist worker to one GPU; returns the GPU id it got, or None (not a worker, or no GPU).

    Idempotent: a worker that was already pinned keeps its GPU."""
    if ASSIGNED in environ:
        return environ[ASSIGNED]
    index = worker_index(environ.get("PYTEST_XDIST_WORKER"))
    gpus = visible_gpus(environ, proc)
    if index is None or not gpus:
        return None
    gpu = gpus[index % len(gpus)]
    environ[VISIBLE] = gpu
    environ[ASSIGNED] = gpu
    return gpu


def physical_device(device: str, environ: MutableMapping[str, str] | None = None) -> str:
    """``cuda:0`` as the report should name it: with the worker's GPU when it was pinned to one."""
    environ = os.environ if environ is None else environ
    gpu = environ.get(ASSIGNED)
    if gpu is None or not device.startswith("cuda"):
        return device
    return f"{device} (GPU {gpu})"
