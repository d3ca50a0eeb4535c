"""Building the CUDA kernels the INT4 methods run by, on first use, with ``torch.utils.cpp_extension.load``.

A build goes into a directory named by a hash of its sources, the torch and CUDA versions and the GPU's
compute capability (under ``COMPRESSGATE_KERNEL_CACHE``, default ``~/.cache/pytest-compressgate/kernels``),
so a change to any of them builds afresh and nothing built for another stack is loaded. Building needs
the CUDA compiler (nvcc) and ninja; without them the load fails with one line that names the alternatives.
"""

import hashlib
import os
from pathlib import Path
from types import ModuleType

import torch

from ..errors import CompressionError

ALTERNATIVES = "use kernel 'tinygemm' or 'triton'"


def cuda_flags(arch: str) -> list[str]:
    """nvcc's flags for compute capability ``arch`` ("90"); part of the build directory's hash."""
    return ["-O3", "-std=c++17", f"-gencode=arch=compute_{arch},code=sm_{arch}"]


def build_directory(name: str, sources: list[Path]) -> Path:
    """Where ``name``'s build goes: named by a hash of the sources and flags, torch, CUDA and the compute capability."""
    root = Path(os.environ.get("COMPRESSGATE_KERNEL_CACHE", Path.home() / ".cache" / "pytest-compressgate" / "kernels"))
    major, minor = torch.cuda.get_device_capability()
    flags = " ".join(cuda_flags(f"{major}{minor}")).encode()
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(sources)) + flags).hexdigest()[:12]
    return root / f"{name}-{digest}-torch{torch.__version__}-cuda{torch.version.cuda}-sm{major}{minor}"


def cuda_extension(name: str, sources: list[Path], what: str, seconds: int) -> ModuleType:
    """The extension built from ``sources`` for this GPU (built on the first call on a machine, then loaded
    from its directory), with a transient progress bar; ``what`` names it in messages."""
    from torch.utils import cpp_extension

    if cpp_extension.CUDA_HOME is None:
        raise CompressionError(f"{what} is built from CUDA sources on first use and needs the CUDA compiler (nvcc; "
                               f"set CUDA_HOME): install the CUDA toolkit, or {ALTERNATIVES}")
    major, minor = torch.cuda.get_device_capability()
    if major < 8:
        raise CompressionError(f"{what} needs a GPU of compute capability 8.0+ (tensor-core mma, cp.async); "
                               f"this one is {major}.{minor}: {ALTERNATIVES}")
    from ..methods.textdata import progress_bar

    directory = build_directory(name, sources)
    directory.mkdir(parents=True, exist_ok=True)
    arch = f"{major}{minor}"
    with progress_bar(f"{what} for sm_{arch} (built on first use, ~{seconds} s)", 1) as advance:
        module = cpp_extension.load(name=f"compressgate_{name}_sm{arch}", sources=[str(p) for p in sources],
                                    extra_cflags=["-O3"], build_directory=str(directory), verbose=False,
                                    extra_cuda_cflags=cuda_flags(arch))
        advance()
    return module
