"""Hardware presets: named targets with the capabilities their compressed kernels need."""

from __future__ import annotations

from dataclasses import dataclass

from compressors.registry import Registry


@dataclass(frozen=True)
class HardwarePreset:
    name: str
    description: str
    arch: tuple[str, ...] = ()  # accepted `platform.machine()` values; empty = any
    cpu_flags: frozenset[str] = frozenset()  # all required, as /proc/cpuinfo spells them
    cuda: bool = False
    min_compute_capability: tuple[int, int] | None = None

    def missing(self, machine: Machine) -> list[str]:
        """The capabilities this machine lacks for the preset, in words; empty when it has them all."""
        lacks = []
        if self.arch and machine.arch not in self.arch:
            lacks.append(f"a {'/'.join(self.arch)} CPU (this one is {machine.arch})")
        flags = sorted(self.cpu_flags - machine.cpu_flags)
        if flags:
            lacks.append(f"CPU instructions {', '.join(flags)}")
        if self.cuda and not machine.cuda_devices:
            lacks.append("a CUDA GPU")
        if self.min_compute_capability and machine.cuda_devices:
            best = max(machine.cuda_capabilities)
            if best < self.min_compute_capability:
                want = ".".join(map(str, self.min_compute_capability))
                lacks.append(f"a GPU of compute capability {want}+ (best here: {best[0]}.{best[1]})")
        return lacks


@dataclass(frozen=True)
class Machine:
    arch: str
    cpu_flags: frozenset[str]
    cuda_devices: tuple[str, ...] = ()
    cuda_capabilities: tuple[tuple[int, int], ...] = ()


X86 = ("x86_64", "AMD64")
PRESETS: Registry[HardwarePreset] = Registry("hardware preset")

for _preset in (
    HardwarePreset("cpu", "any CPU; no instruction-set requirement"),
    HardwarePreset("x86-avx2", "x86-64 with AVX2 (most servers and laptops since 2013)", X86,
                   frozenset({"avx2"})),
    HardwarePreset("x86-avx512-vnni", "x86-64 with AVX-512 VNNI int8 dot products (Cascade Lake+)", X86,
                   frozenset({"avx512f", "avx512_vnni"})),
    HardwarePreset("x86-amx", "x86-64 with AMX int8 tiles (Sapphire Rapids+)", X86,
                   frozenset({"amx_tile", "amx_int8"})),
    HardwarePreset("arm64", "64-bit ARM (Graviton, Apple silicon, Ampere)", ("aarch64", "arm64")),
    HardwarePreset("cuda", "any NVIDIA CUDA GPU", cuda=True),
    HardwarePreset("cuda-sm80+", "NVIDIA GPU of compute capability 8.0+ (Ampere or newer)", cuda=True,
                   min_compute_capability=(8, 0)),
    HardwarePreset("cuda-sm90", "NVIDIA GPU of compute capability 9.0+ (Hopper: H100, H200, or newer), where "
                   "FP8 matmuls and the torchao GPU methods' kernels run", cuda=True, min_compute_capability=(9, 0)),
):
    PRESETS.register(_preset.name, _preset)
