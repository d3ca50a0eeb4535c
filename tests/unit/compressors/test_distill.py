"""Distillation on the tiny classifier, alone and as the first stage of a stacked recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from compressors import ConfigError, Context, compress, run_recipe
from compressors.loaders import load_model, load_tokenizer

# Small, fast settings for the 2-layer tiny model (the defaults are tuned for MiniLM-sized models).
FAST = {"epochs": 2, "lr": 1e-3, "batch_size": 32}


@pytest.fixture(scope="module")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tinymodels import make_rows, write_jsonl

    return write_jsonl(tmp_path_factory.mktemp("distill") / "train.jsonl", make_rows(480, seed=5))


def accuracy(path: Path) -> float:
    import torch

    from tests.tinymodels import make_rows

    rows = make_rows(150, seed=99)
    model, tokenizer = load_model(path, task="text-classification"), load_tokenizer(path)
    enc = tokenizer([r["text"] for r in rows], padding=True, return_tensors="pt")
    with torch.no_grad():
        predicted = model(**enc).logits.argmax(-1).tolist()
    return sum(model.config.id2label[p] == r["label"] for p, r in zip(predicted, rows)) / len(rows)


def test_student_has_half_the_layers_and_keeps_90_percent_accuracy(tiny_classifier_dir, train_file, tmp_path,
                                                                   pickle_free):
    step = {"method": "distill", "data": str(train_file), **FAST}
    artifact = compress(tiny_classifier_dir, step, tmp_path / "student")
    stats = artifact.stats
    assert (stats["teacher_layers"], stats["student_layers"]) == (2, 1)
    assert stats["parameters_student"] < stats["parameters_teacher"]
    assert stats["train_examples"] == 480 and stats["hard_labels"] is True
    student = load_model(artifact.path, task="text-classification")
    assert student.config.num_hidden_layers == 1
    assert student.config.id2label == load_model(tiny_classifier_dir, task="text-classification").config.id2label
    teacher_acc, student_acc = accuracy(tiny_classifier_dir), accuracy(artifact.path)
    assert student_acc >= 0.9 * teacher_acc, (student_acc, teacher_acc)
    pickle_free(artifact.path)


def test_distill_is_seeded_and_works_without_labels(tiny_classifier_dir, tmp_path):
    from tests.tinymodels import make_rows, write_jsonl

    data = write_jsonl(tmp_path / "unlabelled.jsonl", [{"text": r["text"]} for r in make_rows(64, seed=7)])
    step = {"method": "distill", "data": str(data), "epochs": 1, "batch_size": 32}
    first = compress(tiny_classifier_dir, step, tmp_path / "a", context=Context(seed=3))
    second = compress(tiny_classifier_dir, step, tmp_path / "b", context=Context(seed=3))
    assert first.stats["final_loss"] == second.stats["final_loss"]
    assert first.stats["hard_labels"] is False
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()


def test_stacked_recipe_writes_three_artifacts_that_each_reload(tiny_classifier_dir, train_file, tmp_path):
    import torch

    steps = [
        {"method": "distill", "data": str(train_file), **FAST},
        {"method": "prune-magnitude", "sparsity": 0.5},
        {"method": "onnx-dynamic-int8"},
    ]
    artifacts = run_recipe(tiny_classifier_dir, steps, tmp_path / "stages",
                           context=Context(model_task="text-classification"))
    assert [a.method for a in artifacts] == ["distill", "prune-magnitude", "onnx-dynamic-int8"]
    assert [a.format.value for a in artifacts] == ["transformers", "transformers", "onnx"]
    assert artifacts[1].stats["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert artifacts[2].stats["quantized_layers"] > 0
    for artifact in artifacts:
        model = load_model(artifact.path, task="text-classification")
        enc = load_tokenizer(artifact.path)(["where is my parcel"], return_tensors="pt")
        with torch.no_grad():
            assert tuple(model(**enc).logits.shape) == (1, 3), artifact.method


@pytest.mark.parametrize(("params", "key"), [
    ({"epochs": 0}, "epochs"),
    ({"temperature": -1.0}, "temperature"),
    ({"epoch": 2}, "epoch"),
    ({"student_layers": 2}, "student_layers"),
    ({"student_config": {"hiden_size": 32}}, "student_config.hiden_size"),
    ({"text_column": "body"}, "text_column"),
])
def test_bad_parameters_raise_config_error_naming_the_key(tiny_classifier_dir, train_file, tmp_path, params, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        compress(tiny_classifier_dir, {"method": "distill", "data": str(train_file), **params}, tmp_path / "a")


def test_missing_data_and_unknown_labels_are_config_errors(tiny_classifier_dir, tmp_path):
    from tests.tinymodels import write_jsonl

    with pytest.raises(ConfigError, match="data is required"):
        compress(tiny_classifier_dir, {"method": "distill"}, tmp_path / "a")
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "refund please", "label": "weather"}])
    with pytest.raises(ConfigError, match="'weather'"):
        compress(tiny_classifier_dir, {"method": "distill", "data": str(bad)}, tmp_path / "a")


def test_other_tasks_are_refused_with_the_supported_list(tiny_classifier_dir, train_file, tmp_path):
    with pytest.raises(ConfigError, match="supports the tasks text-classification"):
        compress(tiny_classifier_dir, {"method": "distill", "data": str(train_file)}, tmp_path / "a",
                 context=Context(model_task="token-classification"))
