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
    assert [name for name, _ in failures] == ["size", "speed", "latency"]
    assert [message.split(" ")[0] for _, message in failures] == ["size", "speedup", "median"]


def test_speed_gates_are_not_checked_off_target_hardware() -> None:
    failures, notes = check_gates(perf(speedup=0.5), min_size_ratio=None, min_speedup=1.5, max_latency_ms=None,
                                  speed_representative="this machine lacks CPU instructions amx_int8")
    assert failures == [] and notes == ["speed gates not checked: this machine lacks CPU instructions amx_int8"]


def test_speed_gate_uses_the_lower_bound_across_rounds() -> None:
    steady = perf(speedup=2.0, speedup_interval=[1.9, 2.1])
    assert check_gates(steady, min_size_ratio=None, min_speedup=1.8, max_latency_ms=None,
                       speed_representative=None) == ([], [])
    lucky = perf(speedup=2.0, speedup_interval=[1.4, 2.8])  # the point clears 1.8, the bound does not
    failures, _ = check_gates(lucky, min_size_ratio=None, min_speedup=1.8, max_latency_ms=None,
                              speed_representative=None)
    assert failures == [("speed", "lower 95% bound 1.40x of the speedup 2.00x (batch 1, 5 rounds) is below "
                                  "min_speedup = 1.8")]


def test_unreliable_timings_gate_nothing_and_say_why() -> None:
    busy = perf(speedup=0.9, speedup_interval=[0.5, 1.6], unreliable="load average 3.1 on 2 core(s)")
    failures, notes = check_gates(busy, min_size_ratio=None, min_speedup=1.5, max_latency_ms=1.0,
                                  speed_representative=None)
    assert failures == [] and "the timings are unreliable (load average 3.1 on 2 core(s))" in notes[0]
    busy.off_target = "CPU instructions avx512_vnni"
    assert busy.speed_caveat == ("unreliable: load average 3.1 on 2 core(s); timed on other hardware than the "
                                 "target's (CPU instructions avx512_vnni)")
    assert busy.to_json()["speed_caveat"] == busy.speed_caveat


def test_contention_is_detected_from_load_steal_and_spread() -> None:
    from pytest_compressgate.performance import _contention

    steady = [3.2, 3.25, 3.3, 3.22, 3.28]
    assert _contention(loads=[1.1, 1.2], steal=0.0, speedups=steady, cores=2) == []
    assert _contention(loads=[None], steal=None, speedups=[3.2, 4.7, 3.3, 3.22, 3.28], cores=2) == [
        "rounds' speedups spread 3.20x-4.70x"]
    busy = _contention(loads=[3.1, 2.9], steal=0.08, speedups=steady, cores=2)
    assert busy == ["load average 3.1 on 2 core(s): other processes competed",
                    "8% of CPU time stolen by the hypervisor"]


def test_report_labels_unreliable_and_off_target_speedups() -> None:
    from pytest_compressgate.report.rows import _speedup

    assert _speedup({"speedup": 3.2}) == "3.20x"
    labelled = _speedup({"speedup": 11.78, "unreliable": "load", "off_target": "avx512"})
    assert labelled == "11.78x (unreliable, off-target)"


DECODE = {"prompt_tokens": 128, "new_tokens": 32, "batch_sizes": [1, 16], "compile_mode": "default",
          "paths": {"source": "cuda-graph of the compiled step", "compressed": "cuda-graph of the compiled step"},
          "tokens_per_s": {"source": {"1": 52.4, "16": 790.0}, "compressed": {"1": 131.0, "16": 1710.2}},
          "compile_s": {"source": 41.0, "compressed": 38.5}, "copy_bandwidth": 4.27e12,
          "weight_bytes_per_step": {"source": 13.48e9, "compressed": 3.41e9},
          "bound_tokens_per_s": {"source": {"1": 316.8, "16": 5068.0}, "compressed": {"1": 1252.2, "16": 20035.2}}}


def test_report_says_a_decoding_speedup_and_shows_tokens_per_second() -> None:
    from pytest_compressgate.report.markdown import render_markdown
    from pytest_compressgate.report.rows import notes, row
    from pytest_compressgate.result import GateResult

    def result(task: str, performance: dict) -> GateResult:
        return GateResult(task=task, target="gpu", metric="perplexity", higher_is_better=False, n=10,
                          source_score=10.0, compressed_score=10.2, drop=0.2, allowed_drop=1.0, min_score=None,
                          decision="estimate", performance=performance)

    timed = {"speedup": 2.5, "compressed": {"latency_ms_median": 244.3}}
    decoded = [result("ppl", {**timed, "decode": DECODE}), result("gen", {**timed, "decode": DECODE})]
    assert row(decoded[0])["speedup"] == "2.50x (decode)"
    assert row(decoded[0])["latency"] == "244.3ms/32tok"
    assert notes(decoded) == ["gpu: decoding speedup: 32 greedy tokens after a 128-token prompt, 52.4 -> 131 tokens/s "
                              "at batch 1 (bounds 317 -> 1252), 790 -> 1710 tokens/s at batch 16 (bounds 5068 -> "
                              "20035) (cuda-graph of the compiled step); bound = batch x 4270 GB/s (a copy, "
                              "measured) / the weight bytes a step reads"]
    assert "52.4 -> 131 tokens/s at batch 1 (bounds 317 -> 1252)" in render_markdown(decoded)
    unbounded = {k: v for k, v in DECODE.items() if k not in ("copy_bandwidth", "bound_tokens_per_s")}
    assert notes([result("ppl", {**timed, "decode": unbounded})]) == [  # timings cached before bounds were kept
        "gpu: decoding speedup: 32 greedy tokens after a 128-token prompt, 52.4 -> 131 tokens/s at batch 1, "
        "790 -> 1710 tokens/s at batch 16 (cuda-graph of the compiled step)"]
    older = result("ppl", timed)  # a cached or baseline document from before decoding was timed
    assert (row(older)["speedup"], row(older)["latency"], notes([older])) == ("2.50x", "244.3ms", [])


def test_gate_messages_say_decoding_was_timed() -> None:
    decoded = perf(speedup=1.2, decode=DECODE)
    failures, _ = check_gates(decoded, min_size_ratio=None, min_speedup=1.5, max_latency_ms=4,
                              speed_representative=None)
    assert failures == [("speed", "speedup 1.20x (decoding at batch 1, 5 rounds) is below min_speedup = 1.5"),
                        ("latency", "median latency 5.00 ms (32 decoding steps) is above max_latency_ms = 4")]


def test_report_names_the_kernels_the_artifact_ran() -> None:
    from pytest_compressgate.report.rows import notes
    from pytest_compressgate.result import GateResult

    stats = {"kernel": "aten::_weight_int4pack_mm x225, aten::bmm x1", "kernel_device": "cuda:0"}
    results = [GateResult(task=task, target="gpu-int4", metric="perplexity", higher_is_better=False, n=10,
                          source_score=10.0, compressed_score=10.2, drop=0.2, allowed_drop=1.0, min_score=None,
                          decision="estimate", performance={"stats": stats}) for task in ("ppl", "gen")]
    assert notes(results) == ["gpu-int4: kernels on cuda:0 (at build): aten::_weight_int4pack_mm x225, aten::bmm x1"]
    stats.pop("kernel")
    assert notes(results) == []  # methods that profile nothing say nothing
