"""Hardware presets: what each needs, and what a given machine lacks, in words."""

from __future__ import annotations

import pytest

from pytest_compressgate.targets import PRESETS, Machine, detect_machine

AVX2_BOX = Machine(arch="x86_64", cpu_flags=frozenset({"avx2", "fma"}))
AMPERE_BOX = Machine(arch="x86_64", cpu_flags=frozenset({"avx2"}), cuda_devices=("A100",),
                     cuda_capabilities=((8, 0),))
TURING_BOX = Machine(arch="x86_64", cpu_flags=frozenset({"avx2"}), cuda_devices=("T4",),
                     cuda_capabilities=((7, 5),))


def test_required_presets_exist() -> None:
    for name in ("x86-avx512-vnni", "x86-amx", "x86-avx2", "arm64", "cuda", "cuda-sm80+"):
        assert name in PRESETS


@pytest.mark.parametrize(
    ("preset", "machine", "missing"),
    [
        ("x86-avx2", AVX2_BOX, []),
        ("x86-avx512-vnni", AVX2_BOX, ["CPU instructions avx512_vnni, avx512f"]),
        ("x86-amx", AVX2_BOX, ["CPU instructions amx_int8, amx_tile"]),
        ("arm64", AVX2_BOX, ["a aarch64/arm64 CPU (this one is x86_64)"]),
        ("cuda", AVX2_BOX, ["a CUDA GPU"]),
        ("cuda-sm80+", AMPERE_BOX, []),
        ("cuda-sm80+", TURING_BOX, ["a GPU of compute capability 8.0+ (best here: 7.5)"]),
    ],
)
def test_missing_capabilities_are_named(preset: str, machine: Machine, missing: list[str]) -> None:
    assert PRESETS.get(preset).missing(machine) == missing


def test_unknown_preset_suggests_a_name() -> None:
    with pytest.raises(KeyError, match=r"Did you mean 'x86-avx2'"):
        PRESETS.get("x86-avx")


def test_detection_reads_this_machine() -> None:
    machine = detect_machine()
    assert machine.arch
    if machine.arch == "x86_64":
        assert "sse2" in machine.cpu_flags
