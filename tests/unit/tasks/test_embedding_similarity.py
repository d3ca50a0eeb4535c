from __future__ import annotations

import pytest

from compressors.errors import ConfigError
from pytest_compressgate.tasks import METRICS, TASK_TYPES, Examples, LoadedModel, Predictions
from pytest_compressgate.tasks.embeddings import EmbeddingSimilarityOptions, encode
from tests.tinymodels import write_jsonl

from .tiny_task_models import FakeEncoder

TASK = TASK_TYPES.get("embedding-similarity")
ROWS = [{"sentence1": "the cat sat on the mat", "sentence2": "the cat sat on the mat", "score": 5.0},
        {"sentence1": "john lives in paris", "sentence2": "mary lives in london", "score": 3},
        {"sentence1": "red car", "sentence2": "the river bank", "score": 0.5}]


def test_spearman_on_a_hand_made_ranking():
    from scipy.stats import spearmanr

    predictions, gold = [0.1, 0.4, 0.3, 0.9], [1.0, 2.0, 3.0, 4.0]
    examples = Examples(inputs=[("a", "b")] * 4, references=gold)
    metric = METRICS.get("spearman")
    assert metric.per_example is None and metric.higher_is_better
    # ranks 1 3 2 4 against 1 2 3 4: rho = 1 - 6 * 2 / (4 * 15)
    assert TASK.score(metric, Predictions(predictions), examples) == pytest.approx(0.8)
    assert TASK.score(metric, Predictions(predictions), examples) == pytest.approx(spearmanr(predictions, gold)[0])
    assert TASK.score(metric, Predictions(predictions), examples, index=[0, 1, 3]) == pytest.approx(1.0)
    assert TASK.score(metric, Predictions([0.5] * 4), examples) == 0.0  # constant: no ranking information
    assert TASK.per_example(metric, Predictions(predictions), examples) is None


def test_predict_gives_cosines_of_mean_pooled_embeddings(tmp_path, encoder):
    import torch

    data = write_jsonl(tmp_path / "sts.jsonl", ROWS)
    examples = TASK.load(str(data), EmbeddingSimilarityOptions(), split="train", max_examples=None, where="tasks.sts")
    assert examples.references == [5.0, 3.0, 0.5]
    predictions = TASK.predict(encoder, examples, EmbeddingSimilarityOptions(), batch_size=2)
    assert predictions.values[0] == pytest.approx(1.0, abs=1e-5)  # a sentence with itself
    assert all(-1.0 - 1e-6 <= v <= 1.0 + 1e-6 for v in predictions.values)
    assert predictions.nonfinite == 0 and TASK.collapse(predictions, examples) is None

    embeddings = encode(encoder, ["red car", "red car red car"], max_length=16, batch_size=1)
    assert torch.linalg.norm(embeddings, dim=-1).tolist() == pytest.approx([1.0, 1.0])
    enc = encoder.tokenizer(["red car"], return_tensors="pt")
    with torch.inference_mode():
        mean = encoder.model(**enc).last_hidden_state.mean(dim=1)
    assert embeddings[0].tolist() == pytest.approx(torch.nn.functional.normalize(mean, dim=-1)[0].tolist(), abs=1e-5)


def test_padding_does_not_change_an_embedding(encoder):
    alone = encode(encoder, ["red car"], max_length=16, batch_size=1)
    padded = encode(encoder, ["red car", "john lives in paris and mary lives in london"], max_length=16, batch_size=2)
    assert padded[0].tolist() == pytest.approx(alone[0].tolist(), abs=1e-5)


def test_identical_embeddings_for_all_inputs_are_a_collapse(encoder):
    model = LoadedModel(FakeEncoder(), encoder.tokenizer, "int8")
    examples = Examples(inputs=[("red car", "the cat"), ("john", "mary lives in paris")], references=[1.0, 2.0])
    predictions = TASK.predict(model, examples, EmbeddingSimilarityOptions(), batch_size=1)
    assert predictions.values == pytest.approx([1.0, 1.0])
    assert TASK.collapse(predictions, examples) == "the model gives the same embedding to all 4 sentences"
    assert TASK.score(TASK.metric("spearman"), predictions, examples) == 0.0


def test_config_errors(tmp_path):
    data = write_jsonl(tmp_path / "sts.jsonl", ROWS)
    with pytest.raises(ConfigError, match=r"tasks\.sts\.score_column = 'label'.*columns: sentence1, sentence2, score"):
        TASK.load(str(data), EmbeddingSimilarityOptions(score_column="label"), split="train", max_examples=None,
                  where="tasks.sts")
    text = write_jsonl(tmp_path / "bad.jsonl", [{"sentence1": "a", "sentence2": "b", "score": "high"}])
    with pytest.raises(ConfigError, match="row 0 holds 'high', not a finite number"):
        TASK.load(str(text), EmbeddingSimilarityOptions(), split="train", max_examples=None, where="tasks.sts")
