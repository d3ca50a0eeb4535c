"""Decoding speed: the decoder decodes what ``generate`` decodes, ``measure_decode_timings`` gives the gate's
timing document with its ``decode`` block, and the timer times decoding (under its own key) only for a
causal LM on a CUDA GPU."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_compressgate import performance
from pytest_compressgate.cache.gate_keys import GateKeys
from pytest_compressgate.decoding import PROMPT, Decoder, decode_parameters, measure_decode_timings, weight_bytes_read
from pytest_compressgate.gate import timing
from pytest_compressgate.gate.timing import Timer
from pytest_compressgate.targets import PRESETS, detect_machine
from tests.tinymodels import tiny_llama

NO_GPU = bool(PRESETS.get("cuda").missing(detect_machine()))


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("decode") / "llama", hidden=64, intermediate=128, heads=2, kv_heads=1,
                      train_steps=0)


def causal_lm(path: Path, device: str = "cpu") -> Any:
    from compressors.loaders import load_model

    return load_model(path, task="causal-lm", device=device)


@pytest.mark.parametrize("batch", [1, 2])
def test_decoder_decodes_what_generate_decodes(llama_dir: Path, batch: int) -> None:
    import torch

    model = causal_lm(llama_dir)
    decoder = Decoder(model, batch, new_tokens=6, compile_mode="none")
    assert decoder.path == "step" and decoder.graph is None  # on a CPU: step by step, no graph
    got = decoder.greedy(10)
    with torch.inference_mode():  # no end-of-sequence stop: every sequence runs the full 10 tokens
        out = model.generate(decoder.prompt, attention_mask=torch.ones_like(decoder.prompt), max_new_tokens=10,
                             do_sample=False, eos_token_id=None, pad_token_id=None)
    expected = out[:, PROMPT:].tolist()
    assert len(got) == batch and all(len(tokens) == 10 for tokens in got)
    assert got == expected
    assert len({t for tokens in got for t in tokens}) > 3  # decoding, not one token repeated
    decoder.run()  # the timed call: ``new`` steps from the prompt's end
    assert int(decoder.position) == PROMPT + 6


def test_measure_decode_timings_gives_the_decode_block(llama_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compressors.loaders import load_tokenizer
    from pytest_compressgate.tasks.base import LoadedModel

    monkeypatch.setattr(performance, "PAUSE_S", 0.01)  # two tiny models on a CPU: no threads to wait for
    tokenizer = load_tokenizer(llama_dir)
    source = LoadedModel(causal_lm(llama_dir), tokenizer, "source")
    compressed = LoadedModel(causal_lm(llama_dir), tokenizer, "compressed")
    said: list[str] = []
    doc = measure_decode_timings(source, compressed, ["a text"] * 3, new_tokens=4, batch_size=2, compile_mode="none",
                                 repeats=3, warmup=1, rounds=3, say=said.append)
    # each decoder's path and compile time as it is ready, then the timing's end
    assert [line.split(", ready in ")[0] for line in said[:-1]] == [
        f"{name} batch {batch}: step" for name in ("source", "compressed") for batch in (1, 2)]  # warm-up order
    assert said[-1].startswith("decoding timed in ")
    decode = doc["decode"]
    assert {k: decode[k] for k in ("prompt_tokens", "new_tokens", "batch_sizes", "compile_mode")} == {
        "prompt_tokens": PROMPT, "new_tokens": 4, "batch_sizes": [1, 2], "compile_mode": "none"}
    assert decode["paths"] == {"source": "step", "compressed": "step"}
    for name in ("source", "compressed"):
        rates = decode["tokens_per_s"][name]
        assert set(rates) == {"1", "2"} and all(rate > 0 for rate in rates.values())
        assert rates["1"] == pytest.approx(4 * 1000 / doc[name]["latency_ms_median"])
        assert decode["compile_s"][name] >= 0
    assert decode["copy_bandwidth"] > 1e8  # bytes per second of a copy in this machine's memory
    for name, loaded in (("source", source), ("compressed", compressed)):
        assert decode["weight_bytes_per_step"][name] == weight_bytes_read(loaded.model)
        bound = decode["bound_tokens_per_s"][name]
        assert bound["1"] == pytest.approx(decode["copy_bandwidth"] / decode["weight_bytes_per_step"][name])
        assert bound["2"] == pytest.approx(2 * bound["1"])  # a step reads the weights once for the whole batch
    low, high = doc["speedup_interval"]
    assert doc["speedup"] > 0 and low <= doc["speedup"] <= high
    perf = performance.Performance(1, 1, 1.0, None)
    perf.set_timings(doc)
    assert perf.decode == decode  # reports read it from the performance record


def test_a_step_reads_every_weight_but_the_embedding_and_an_int4_layer_s_packed_bytes(llama_dir: Path) -> None:
    from compressors.kernels.int4_triton import Int4Linear
    from compressors.methods.torchao_gpu_tensors import int4_components

    model = causal_lm(llama_dir)
    embedding = model.get_input_embeddings().weight
    tied = model.get_output_embeddings().weight is embedding
    every = sum(p.numel() * p.element_size() for p in model.parameters())
    assert weight_bytes_read(model) == every - (0 if tied else embedding.numel() * embedding.element_size())
    down = model.model.layers[0].mlp.down_proj
    before = weight_bytes_read(model)
    rows, cols = down.weight.shape
    model.model.layers[0].mlp.down_proj = Int4Linear(int4_components(down.weight.detach(), 32, symmetric=True),
                                                     (rows, cols), 32)
    packed = rows * cols // 2 + 2 * (2 * rows * cols // 32)  # 4-bit values, a bf16 scale and zero per 32
    assert weight_bytes_read(model) == before - rows * cols * down.weight.element_size() + packed


def test_a_step_reads_stacked_int4_siblings_once(llama_dir: Path) -> None:
    from compressors.kernels.int4_cuda import Int4CudaLinear, fuse_siblings
    from compressors.methods.torchao_gpu_tensors import int4_components

    model = causal_lm(llama_dir)
    mlp = model.model.layers[0].mlp
    before = weight_bytes_read(model)
    dense = 0
    for name in ("gate_proj", "up_proj"):
        layer = getattr(mlp, name)
        rows, cols = layer.weight.shape
        dense += rows * cols * layer.weight.element_size()
        setattr(mlp, name, Int4CudaLinear(int4_components(layer.weight.detach(), 32), (rows, cols), 32))
    packed = sum(rows * cols // 2 + 4 * (rows * cols // 32) for _ in range(2))  # values; bf16 scale + zero per 32
    assert weight_bytes_read(model) == before - dense + packed
    assert fuse_siblings(model) == ["model.layers.0.mlp: gate_proj/up_proj"]
    assert weight_bytes_read(model) == before - dense + packed  # the stacked weight, counted once


def test_decode_timings_have_their_own_speed_key() -> None:
    common = dict(artifact_key="a", source_key="s", method=performance.SPEED_METHOD, machine={"cpu": "x"},
                  texts=["t"])
    prefill = GateKeys.speed(**common)
    assert GateKeys.speed(**common, decode=None) == prefill  # prefill timings keep their cached key
    decode = GateKeys.speed(**common, decode=decode_parameters())
    assert decode != prefill
    assert len({decode, GateKeys.speed(**common, decode=decode_parameters(new_tokens=64)),
                GateKeys.speed(**common, decode=decode_parameters(batch_size=8)),
                GateKeys.speed(**common, decode=decode_parameters(compile_mode="none"))}) == 4


class RecordingCache:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def get_or_build_json(self, kind: str, key: str, build: Any, *, rebuild: bool, check: Any) -> tuple[Any, bool]:
        self.keys.append(key)
        document = build()
        assert check(document) is None
        return document, False


def make_timer(tmp_path: Path, task: str, device: str, load: Any) -> tuple[Timer, RecordingCache]:
    for name in ("source", "artifact"):
        (tmp_path / name).mkdir(exist_ok=True)
    final = SimpleNamespace(key="artifact-key", artifact=SimpleNamespace(path=tmp_path / "artifact", stats={}))
    builder = SimpleNamespace(source_dir=tmp_path / "source", source_key="source-key",
                              build=lambda name: SimpleNamespace(final=final))
    scorer = SimpleNamespace(config=SimpleNamespace(source=SimpleNamespace(task=task), tasks={}),
                             device=lambda name: device, load=load)
    cache = RecordingCache()
    timer = Timer(cache, GateKeys(None, {}), builder, scorer)  # type: ignore[arg-type]
    timer._timing_texts = lambda: ["a text to time"]  # type: ignore[method-assign]
    return timer, cache


def fake_document(**extra: Any) -> dict[str, Any]:
    def one(ms: float) -> dict[str, Any]:
        return {"latency_ms_median": ms, "latency_ms_p95": ms, "throughput": 1000 / ms, "rounds_ms": [ms]}

    return {"source": one(2.0), "compressed": one(1.0), "speedup": 2.0, "speedup_interval": [1.9, 2.1],
            "rounds": [2.0], "unreliable": None, **extra}


@pytest.mark.parametrize(("task", "device", "decodes"), [("causal-lm", "cuda", True), ("causal-lm", "cpu", False),
                                                         ("text-classification", "cuda", False)])
def test_timer_times_decoding_for_a_causal_lm_on_cuda_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           task: str, device: str, decodes: bool) -> None:
    calls: list[str] = []

    def prefill(source: Any, compressed: Any, texts: Any) -> dict[str, Any]:
        calls.append("prefill")
        return fake_document()

    def decode(source: Any, compressed: Any, texts: Any, **options: Any) -> dict[str, Any]:
        calls.append("decode")
        said = options.pop("say")
        assert options == {"new_tokens": decode_parameters()["new_tokens"], "batch_size": 16,
                           "compile_mode": "default"}
        said("batch 1: step, ready in 0.1 s")
        return fake_document(decode={"new_tokens": options["new_tokens"]})

    monkeypatch.setattr(timing, "measure_timings", prefill)
    monkeypatch.setattr(timing, "measure_decode_timings", decode)
    monkeypatch.setattr(timing, "not_decodable", lambda loaded: None)
    timer, cache = make_timer(tmp_path, task, device, lambda path, label, device: SimpleNamespace(device=device))
    lines: list[str] = []
    timer.say = lines.append
    perf = timer.performance("target")
    assert calls == ["decode" if decodes else "prefill"]
    assert ("compressgate: target: batch 1: step, ready in 0.1 s" in lines) is decodes  # the decoder's progress
    assert (perf.decode is not None) is decodes
    prefill_key = GateKeys.speed(artifact_key="artifact-key", source_key="source-key", method=performance.SPEED_METHOD,
                                 machine=dataclasses.asdict(detect_machine()), texts=["a text to time"])
    assert (cache.keys[0] != prefill_key) is decodes


def test_timer_falls_back_to_a_forward_where_a_model_cannot_decode(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timing, "measure_timings", lambda source, compressed, texts: fake_document())
    monkeypatch.setattr(timing, "not_decodable", lambda loaded: f"{loaded.label} is an ONNX Runtime session")
    timer, _ = make_timer(tmp_path, "causal-lm", "cuda",
                          lambda path, label, device: SimpleNamespace(device=device, label=label))
    perf = timer.performance("target")
    assert perf.decode is None and perf.speedup == 2.0


@pytest.mark.skipif(NO_GPU, reason="needs a CUDA GPU: decoding is timed on one only")
def test_timer_times_decoding_of_a_causal_lm_on_the_gpu(tmp_path: Path, llama_dir: Path) -> None:
    import torch

    from compressors.loaders import load_tokenizer
    from pytest_compressgate.tasks.base import LoadedModel

    def load(path: Path, label: str, device: str) -> LoadedModel:
        model = causal_lm(llama_dir, device)
        return LoadedModel(model if label == "source" else model.to(torch.bfloat16), load_tokenizer(llama_dir), label)

    timer, cache = make_timer(tmp_path, "causal-lm", "cuda", load)
    perf = timer.performance("gpu-target")
    decode = perf.decode
    assert decode is not None and decode["batch_sizes"] == [1, 16] and decode["compile_mode"] == "default"
    print(f"decode on the GPU: {decode}")
    assert all(path.startswith("cuda-graph") for path in decode["paths"].values()), decode["paths"]
    assert all(rate > 0 for rates in decode["tokens_per_s"].values() for rate in rates.values())
    assert perf.devices["source"].startswith("cuda") and perf.devices["compressed"].startswith("cuda")
    assert perf.speedup is not None and perf.speedup > 0


def test_a_step_that_compiles_anew_each_token_is_decoded_eagerly(llama_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A compiled step that depends on a value which changes each token (here a Python int read from the
    position, as a graph break on ``.item()`` gives) would compile once per token inside the timed calls:
    the decoder sees the new graphs and decodes uncompiled instead, saying why."""
    import torch

    real = torch.compile  # dynamo's own graphs and guards; its "eager" backend skips inductor's code generation
    monkeypatch.setattr(torch, "compile", lambda model, mode=None, dynamic=None: real(model, backend="eager",
                                                                                      dynamic=dynamic))

    def position_as_a_number(module, args, kwargs):
        k = int(kwargs["position_ids"].max()) + 1
        return (args[0] * k / k, *args[1:]), kwargs

    try:
        steady = Decoder(causal_lm(llama_dir), 1, new_tokens=6, compile_mode="default")
        assert steady.path == "compiled step"
        torch._dynamo.reset()  # dynamo guards no hooks: the steady model's graph would serve the hooked one
        model = causal_lm(llama_dir)
        model.model.layers[0].register_forward_pre_hook(position_as_a_number, with_kwargs=True)
        decoder = Decoder(model, 1, new_tokens=6, compile_mode="default")
        assert decoder.path == ("step, not compiled (RuntimeError: it compiles anew each token (the step depends on "
                                "a value that changes))")
        assert decoder.forward is model
        assert decoder.greedy(4) == steady.greedy(4)  # the hook changes nothing but the compiling
    finally:
        torch._dynamo.reset()
