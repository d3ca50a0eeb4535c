"""Metrics on text answers: SQuAD exact match and token F1, ROUGE-L, and exact match for generations.

``exact_match`` is registered once (plain equality, in ``metrics.py``); question answering and generation
each serve their own form of it through ``TaskType.metric`` (``QA_EXACT_MATCH``, ``GENERATION_EXACT_MATCH``),
because "exact" means SQuAD-normalized for extractive answers and whitespace-normalized for generated text.
A reference may be one string or a list of acceptable strings; an example scores its best match.

ROUGE-L comes from ``rouge-score`` (the ``metrics`` extra), imported only when a score is computed. Its
tokenizer keeps ASCII letters and digits only, so text in other scripts scores 0: use exact match there.
"""

from __future__ import annotations

import functools
import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from compressors.errors import require

from .metrics import Metric, register_metric

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalization: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in str(text).lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def as_references(reference: Any) -> list[str]:
    """One reference string or several acceptable ones, as a list (never empty: no answer is "")."""
    if reference is None:
        return [""]
    if isinstance(reference, str):
        return [reference]
    items = [str(r) for r in reference]
    return items or [""]


def squad_exact(prediction: str, reference: Any) -> float:
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(r) for r in as_references(reference)))


def _token_f1(prediction: str, gold: str) -> float:
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:  # SQuAD 2.0: both empty is a match, one empty is not
        return float(pred_tokens == gold_tokens)
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_f1(prediction: str, reference: Any) -> float:
    """Token-overlap F1 after SQuAD normalization, against the best-matching reference."""
    return max(_token_f1(prediction, r) for r in as_references(reference))


def generation_exact(prediction: str, reference: Any) -> float:
    """Equality after trimming and collapsing whitespace; case and punctuation count."""
    pred = " ".join(str(prediction).split())
    return float(any(pred == " ".join(r.split()) for r in as_references(reference)))


def rouge_l(prediction: str, reference: Any) -> float:
    """ROUGE-L F-measure (no stemming, as ``evaluate``'s default), against the best-matching reference."""
    scorer = _rouge_scorer()
    return max(scorer.score(r, str(prediction))["rougeL"].fmeasure for r in as_references(reference))


@functools.cache
def _rouge_scorer():
    """One scorer, built on first use; it keeps no state between calls."""
    module = require("rouge_score.rouge_scorer", extra="metrics", purpose="the rouge_l metric")
    return module.RougeScorer(["rougeL"], use_stemmer=False)


def per_example_of(fn):
    """Lift ``fn(prediction, reference) -> float`` to the ``Metric.per_example`` signature."""

    def per_example(predictions: Sequence[Any], references: Sequence[Any]) -> np.ndarray:
        return np.array([fn(p, r) for p, r in zip(predictions, references, strict=True)], dtype=float)

    return per_example


def mean_of(fn):
    """Lift ``fn(prediction, reference) -> float`` to ``Metric.compute``: the mean over examples."""
    per_example = per_example_of(fn)

    def compute(predictions: Sequence[Any], references: Sequence[Any]) -> float:
        scores = per_example(predictions, references)
        return float(scores.mean()) if len(scores) else float("nan")

    return compute


QA_EXACT_MATCH = Metric("exact_match", mean_of(squad_exact), per_example=per_example_of(squad_exact), binary=True)
GENERATION_EXACT_MATCH = Metric("exact_match", mean_of(generation_exact), per_example=per_example_of(generation_exact),
                                binary=True)
register_metric(Metric("qa_f1", mean_of(squad_f1), per_example=per_example_of(squad_f1)))
register_metric(Metric("rouge_l", mean_of(rouge_l), per_example=per_example_of(rouge_l), package="rouge_score"))
