"""Custom benchmarks, written as ordinary pytest tests with the gate's fixtures.

Routing payment and account problems wrongly costs far more than the rest, so the team gates them on
their own: no compressed model may lose more than 3 points of recall on these intents.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pytest_compressgate import assert_no_regression, assert_scores_no_regression

CRITICAL = {"payment_failed", "account_access", "request_refund"}
DATA = Path(__file__).parents[1] / "data" / "intents_test.jsonl"


def critical_examples() -> list[dict]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["label"] in CRITICAL]


def routed_correctly(model, rows: list[dict]) -> list[float]:
    """1.0 per example when the model predicts its intent, else 0.0 (a per-example score)."""
    enc = model.tokenizer([r["text"] for r in rows], padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        ids = torch.as_tensor(model(**enc).logits).argmax(-1).tolist()
    labels = model.model.config.id2label
    return [float(labels[i] == r["label"]) for i, r in zip(ids, rows)]


def test_critical_intents_keep_their_recall(source_model, compressed_model):
    rows = critical_examples()
    assert_scores_no_regression(
        routed_correctly(source_model, rows), routed_correctly(compressed_model, rows),
        task="critical-intents", target=compressed_model.label, max_drop=0.03,
    )


@pytest.mark.compress_gate(targets=["cpu-int8"])
def test_server_target_passes_the_declared_intent_gate(compress_gate, compressed_model):
    assert_no_regression(compress_gate.compare("intent", compressed_model.label))
