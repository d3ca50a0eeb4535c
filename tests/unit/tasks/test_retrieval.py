from __future__ import annotations

import json

import pytest

from compressors.errors import ConfigError
from pytest_compressgate.tasks import METRICS, TASK_TYPES, Examples, LoadedModel, Predictions
from pytest_compressgate.tasks.retrieval import RetrievalOptions, rank_queries
from tests.tinymodels import write_jsonl

from .tiny_task_models import FakeEncoder

TASK = TASK_TYPES.get("retrieval")
DOCS = ["john lives in paris", "mary works at acme corp", "the cat sat on the mat", "the river bank",
        "red car and blue house"]


def _load(data, **options):
    return TASK.load(str(data), RetrievalOptions(**options), split="train", max_examples=None, where="tasks.search")


def test_recall_at_k_and_mrr_on_a_hand_made_ranking():
    predictions = Predictions([{"ranked": ["a", "b", "c"], "rank": 1},
                               {"ranked": ["b", "c", "a"], "rank": 3},
                               {"ranked": ["c", "a", "b"], "rank": 7}])
    examples = Examples(inputs=["q1", "q2", "q3"], references=[["a"], ["a", "x"], ["z"]])
    recall, mrr = METRICS.get("recall_at_k"), METRICS.get("mrr")
    assert recall.binary and mrr.bounded and not mrr.binary
    assert list(TASK.per_example(recall, predictions, examples)) == [1.0, 1.0, 0.0]
    assert TASK.score(recall, predictions, examples) == pytest.approx(2 / 3)
    assert TASK.score(mrr, predictions, examples) == pytest.approx((1 + 1 / 3 + 1 / 7) / 3)
    assert TASK.score(mrr, predictions, examples, index=[1, 1]) == pytest.approx(1 / 3)


def test_ranking_breaks_ties_by_corpus_order():
    import torch

    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    documents = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.6, 0.8]])
    ranked = rank_queries(queries, documents, [[2], [3]], k=2)
    assert ranked == [([1, 2], 2), ([0, 3], 2)]


def test_documents_of_the_data_as_the_corpus(tmp_path, encoder):
    rows = [{"query": d, "document": d} for d in DOCS] + [{"query": "the cat", "document": DOCS[2]}]
    examples = _load(write_jsonl(tmp_path / "pairs.jsonl", rows), k=2)
    assert examples.doc_ids == ["0", "1", "2", "3", "4"] and examples.references[-1] == ["2"]
    predictions = TASK.predict(encoder, examples, RetrievalOptions(k=2), batch_size=4)
    # a query identical to its document has cosine 1 with it: first place whatever the weights
    assert [v["rank"] for v in predictions.values[:5]] == [1] * 5
    assert [v["ranked"][0] for v in predictions.values[:5]] == ["0", "1", "2", "3", "4"]
    assert all(len(v["ranked"]) == 2 for v in predictions.values)
    again = Predictions.from_json(json.loads(json.dumps(predictions.to_json())))
    assert TASK.score(TASK.metric("mrr"), again, examples) >= 5 / 6
    assert TASK.collapse(predictions, examples) is None


def test_a_corpus_file_next_to_the_data(tmp_path, encoder, monkeypatch):
    write_jsonl(tmp_path / "data" / "corpus.jsonl", [{"doc": f"d{i}", "body": d} for i, d in enumerate(DOCS)])
    rows = [{"q": DOCS[0], "gold": "d0"}, {"q": DOCS[3], "gold": ["d3", "d1"]}]
    data = write_jsonl(tmp_path / "data" / "queries.jsonl", rows)
    monkeypatch.chdir(tmp_path / "data")
    options = dict(query_column="q", relevant_column="gold", corpus="data/corpus.jsonl", doc_id_column="doc",
                   doc_text_column="body", k=3)
    examples = _load(data, **options)
    assert examples.references == [["d0"], ["d3", "d1"]] and len(examples.doc_texts) == 5
    predictions = TASK.predict(encoder, examples, RetrievalOptions(**options), batch_size=8)
    assert [v["rank"] for v in predictions.values] == [1, 1]
    assert TASK.score(TASK.metric("recall_at_k"), predictions, examples) == 1.0


def test_config_errors(tmp_path):
    write_jsonl(tmp_path / "corpus.jsonl", [{"id": 1, "text": "a"}, {"id": 2, "text": "b"}])
    data = write_jsonl(tmp_path / "q.jsonl", [{"query": "a", "relevant": 1}, {"query": "b", "relevant": 9}])
    with pytest.raises(ConfigError, match=r"row 1 names \['9'\], not ids in the corpus"):
        _load(data, corpus=str(tmp_path / "corpus.jsonl"))
    with pytest.raises(ConfigError, match=r"tasks\.search\.doc_text_column = 'body'.*columns: id, text"):
        _load(data, corpus=str(tmp_path / "corpus.jsonl"), doc_text_column="body")
    with pytest.raises(ConfigError, match=r"tasks\.search\.corpus = 'nowhere\.jsonl': no such file"):
        _load(data, corpus="nowhere.jsonl")
    with pytest.raises(ConfigError, match=r"tasks\.search\.document_column = 'document'.*columns: query, relevant"):
        _load(data)


def test_identical_embeddings_are_a_collapse_and_never_rank_perfectly(tmp_path, encoder):
    rows = [{"query": d, "document": d} for d in DOCS]
    examples = _load(write_jsonl(tmp_path / "pairs.jsonl", rows))
    model = LoadedModel(FakeEncoder(), encoder.tokenizer, "int8")
    predictions = TASK.predict(model, examples, RetrievalOptions(k=2), batch_size=2)
    assert [v["rank"] for v in predictions.values] == [1, 2, 3, 4, 5]  # ties: corpus order
    assert TASK.score(TASK.metric("recall_at_k"), predictions, examples) == pytest.approx(2 / 5)
    assert TASK.collapse(predictions, examples) == "the model gives the same embedding to all 5 queries"
