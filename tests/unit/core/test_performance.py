"""Sizes from files and safetensors headers; performance gates and when they are not checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_compressgate.performance import Performance, Timing, check_gates, measure_sizes, parameter_count


def test_parameter_count_reads_safetensors_headers(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(4, 8), "b": torch.zeros(8)}, str(tmp_path / "model.safetensors"))
    assert parameter_count(tmp_path) == 40


def test_measure_sizes(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    src, art = tmp_path / "src", tmp_path / "art"
    src.mkdir(), art.mkdir()
    save_file({"w": torch.zeros(100, 100)}, str(src / "model.safetensors"))  # 40 kB of fp32
    save_file({"w": torch.zeros(100, 100, dtype=torch.int8)}, str(art / "model.safetensors"))
    (art / "notes.txt").write_text("not a weight file" * 100)
    perf = measure_sizes(src, art, {})
    assert perf.size_ratio == pytest.approx(4.0, rel=0.02)
    assert perf.bits_per_weight == pytest.approx(8.0, rel=0.02)


def perf(**kw) -> Performance:
    p = Performance(source_weight_bytes=400, weight_bytes=100, size_ratio=4.0, bits_per_weight=8.0,
                    source=Timing(10.0, 12.0, 100.0), compressed=Timing(5.0, 6.0, 200.0), speedup=2.0)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def test_gates_pass_and_fail() -> None:
    assert check_gates(perf(), min_size_ratio=3.5, min_speedup=1.5, max_latency_ms=6,
                       speed_representative=None) == ([], [])
    failures, _ = check_gates(perf(speedup=1.2), min_size_ratio=5, min_speedup=1.5, max_latency_ms=4,
                              speed_representative=None)
    assert [f.split(" ")[0] for f in failures] == ["size", "speedup", "median"]


def test_speed_gates_are_not_checked_off_target_hardware() -> None:
    failures, notes = check_gates(perf(speedup=0.5), min_size_ratio=None, min_speedup=1.5, max_latency_ms=None,
                                  speed_representative="this machine lacks CPU instructions amx_int8")
    assert failures == [] and notes == ["speed gates not checked: this machine lacks CPU instructions amx_int8"]
