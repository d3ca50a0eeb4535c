"""Sentence embeddings from an encoder, and the embedding-similarity task (STS-style), scored by Spearman.

An embedding is the mean of the encoder's last hidden states over real tokens (attention mask), L2-
normalized, so a dot product is a cosine. That is the pooling of sentence-transformers models such as
all-MiniLM-L6-v2; models trained with [CLS] pooling score a little lower here, for source and compressed
alike. The encoder is ``AutoModel`` or the project's ONNX Runtime ``OrtModel`` (model task
``feature-extraction``, ``embedding-similarity`` or ``retrieval``).

``spearman`` is corpus-level (rank correlation of predicted cosines with gold scores) and is recomputed on
each bootstrap resample. A constant prediction (or constant gold scores in a resample) has no ranking
information: its Spearman is 0, not NaN, so a collapsed model fails on its score instead of erroring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compressors.errors import ConfigError

from .base import Examples, LoadedModel, Predictions, Progress, batches, register_task_type
from .data import load_rows, require_columns
from .metrics import Metric, register_metric
from .scoring import StoredScoresTask, nonfinite_rows, require_positive

SPREAD_EPS = 1e-4  # unit embeddings all closer than this to the first one count as identical (float noise)


def _spearman(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    from scipy.stats import rankdata

    pred, gold = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
    if len(pred) < 2 or np.isnan(pred).any():
        return float("nan")
    pred_rank, gold_rank = rankdata(pred) - (len(pred) + 1) / 2, rankdata(gold) - (len(gold) + 1) / 2
    denominator = math.sqrt(float((pred_rank ** 2).sum() * (gold_rank ** 2).sum()))
    return float((pred_rank * gold_rank).sum() / denominator) if denominator else 0.0


SPEARMAN = register_metric(Metric("spearman", _spearman, bounded=False))  # in [-1, 1]


class EmbeddingStats:
    """Running facts about the embeddings of one set of texts: NaN/inf rows, and their spread."""

    def __init__(self) -> None:
        self.first = None
        self.spread = 0.0  # largest distance of any embedding from the first one
        self.count = 0  # finite embeddings seen
        self.nonfinite_mask: list[bool] = []

    def add(self, embeddings, nonfinite) -> None:
        finite = embeddings[~nonfinite]
        if self.first is None and len(finite):
            self.first = finite[0]
        if len(finite):
            self.spread = max(self.spread, float((finite - self.first).norm(dim=-1).max()))
        self.count += len(finite)
        self.nonfinite_mask.extend(nonfinite.tolist())

    @property
    def collapsed(self) -> bool:
        return self.count >= 2 and self.spread < SPREAD_EPS


def encode(model: LoadedModel, texts: Sequence[str], *, max_length: int, batch_size: int,
           stats: EmbeddingStats | None = None):
    """Mean-pooled, L2-normalized embeddings of ``texts``, shape (len(texts), hidden)."""
    import torch

    chunks = []
    for batch in batches(list(texts), batch_size):
        enc = model.tokenizer(list(batch), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        with torch.inference_mode():
            out = model(**enc)
        hidden = torch.as_tensor(out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]).float()
        mask = enc["attention_mask"][..., None].to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        embeddings = torch.nn.functional.normalize(pooled, dim=-1)
        if stats is not None:
            stats.add(embeddings, nonfinite_rows(pooled))
        chunks.append(embeddings)
    return torch.cat(chunks) if chunks else torch.zeros((0, 0))


@dataclass(frozen=True)
class EmbeddingSimilarityOptions:
    sentence1_column: str = "sentence1"
    sentence2_column: str = "sentence2"
    score_column: str = "score"  # gold similarity, any numeric scale (only its ranking matters)
    max_length: int = 128

    def __post_init__(self) -> None:
        require_positive(self, "max_length")


@register_task_type
class EmbeddingSimilarity(StoredScoresTask):
    name = "embedding-similarity"
    options_cls = EmbeddingSimilarityOptions
    default_metric = "spearman"
    metrics = ("spearman",)
    model_task = "feature-extraction"

    def load(self, data: str, options: EmbeddingSimilarityOptions, *, split: str, max_examples: int | None,
             where: str) -> Examples:
        rows = load_rows(data, split=split, max_examples=max_examples, where=f"{where}.data")
        require_columns(rows, {"sentence1_column": options.sentence1_column,
                               "sentence2_column": options.sentence2_column,
                               "score_column": options.score_column}, where)
        scores = rows[options.score_column]
        for i, score in enumerate(scores):
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
                raise ConfigError(f"{where}.score_column = {options.score_column!r}: row {i} holds {score!r}, "
                                  "not a finite number")
        inputs = list(zip(map(str, rows[options.sentence1_column]), map(str, rows[options.sentence2_column])))
        return Examples(inputs=inputs, references=[float(s) for s in scores])

    def predict(self, model: LoadedModel, examples: Examples, options: EmbeddingSimilarityOptions, *,
                batch_size: int, progress: Progress | None = None) -> Predictions:
        stats = EmbeddingStats()
        values: list[float] = []
        nonfinite = 0
        for batch in batches(examples.inputs, batch_size):
            before = len(stats.nonfinite_mask)
            first = encode(model, [a for a, _ in batch], max_length=options.max_length, batch_size=batch_size,
                           stats=stats)
            second = encode(model, [b for _, b in batch], max_length=options.max_length, batch_size=batch_size,
                            stats=stats)
            flags = np.array(stats.nonfinite_mask[before:], dtype=bool).reshape(2, -1)
            nonfinite += int(flags.any(axis=0).sum())
            values.extend(float(c) for c in (first * second).sum(dim=-1).tolist())
            if progress:
                progress(len(batch))
        return Predictions(values=values, nonfinite=nonfinite,
                           extra={"embedding_spread": stats.spread, "identical_embeddings": stats.collapsed})

    def collapse(self, predictions: Predictions, examples: Examples) -> str | None:
        found = super().collapse(predictions, examples)
        if found:
            return found
        if predictions.extra.get("identical_embeddings"):
            return f"the model gives the same embedding to all {2 * len(examples)} sentences"
        return None
