"""Retrieval: rank a corpus of documents for each query by embedding cosine, scored by recall@k and MRR.

The corpus is either a file (``corpus``: any format ``datasets`` reads, with ``doc_id_column`` and
``doc_text_column``; each query row's ``relevant_column`` holds one id or a list of ids), or, without
``corpus``, the distinct texts of the data's ``document_column``: each row pairs a query with its one
relevant document and every other row's document is a distractor (ids are then "0", "1", ... in order of
first appearance; with ``max_examples`` only the kept rows' documents compete). Ids are compared as
strings. A relative ``corpus`` path is looked up from the working directory, then from the data file's
folder and each folder above it.

Ranking is by cosine (see ``embeddings``) to 6 decimals; ties go to the document that comes first in the
corpus, so identical embeddings give a poor ranking, never a perfect one. The prediction kept per query is
its top-k ids and the rank of its best-ranked relevant document in the whole corpus.

``recall_at_k`` is per query 1 when a relevant document is in the top k (the hit rate; equal to recall@k
when each query has one relevant document), so it is binary. ``mrr`` is the mean of 1 / rank.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compressors.errors import ConfigError
from compressors.typed import path_field

from .base import Examples, LoadedModel, Predictions, Progress, batches, register_task_type
from .data import load_rows, require_columns
from .embeddings import EmbeddingStats, encode
from .metrics import Metric, mean_of, register_metric
from .scoring import PER_EXAMPLE, StoredScoresTask, require_positive


@dataclass(frozen=True)
class RetrievalOptions:
    query_column: str = "query"
    relevant_column: str = "relevant"  # with a corpus file: the relevant doc id, or a list of ids
    corpus: str | None = path_field()  # a file of documents; without it, the data's document_column is the corpus
    doc_id_column: str = "id"
    doc_text_column: str = "text"
    document_column: str = "document"  # without a corpus file: each query's relevant document text
    k: int = 5
    max_length: int = 256

    def __post_init__(self) -> None:
        require_positive(self, "k", "max_length")


@dataclass
class RetrievalExamples(Examples):
    """Queries (inputs), their relevant doc ids (references), and the corpus they are ranked against."""

    doc_ids: list[str] | None = None
    doc_texts: list[str] | None = None


def _hits(predictions: Sequence[Any], references: Sequence[Any]) -> np.ndarray:
    return np.array([float(not {str(d) for d in p["ranked"]}.isdisjoint(map(str, rel)))
                     for p, rel in zip(predictions, references, strict=True)], dtype=float)


def _reciprocal_ranks(predictions: Sequence[Any], references: Sequence[Any]) -> np.ndarray:
    return np.array([1.0 / p["rank"] if p.get("rank") else 0.0 for p in predictions], dtype=float)


register_metric(Metric("recall_at_k", mean_of(_hits), per_example=_hits, binary=True))
register_metric(Metric("mrr", mean_of(_reciprocal_ranks), per_example=_reciprocal_ranks))


def find_near(path: str, data: str) -> Path | None:
    """``path`` as given, else relative to the data file's folder or any folder above it."""
    given = Path(path)
    if given.is_absolute() or given.exists():
        return given if given.exists() else None
    for folder in Path(data).resolve().parents:
        if (folder / path).exists():
            return folder / path
    return None


def rank_queries(queries, documents, relevant: list[list[int]], k: int) -> list[tuple[list[int], int]]:
    """Per query: the top-k document positions (ties: earlier document first) and the 1-based rank of its
    best-ranked relevant document."""
    import torch

    scores = torch.round(queries @ documents.T, decimals=6)  # float noise must not break ties
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices[:, :k].tolist()
    out = []
    positions = torch.arange(documents.shape[0])
    for row, rel in enumerate(relevant):
        s = scores[row]
        ranks = [len(s) if torch.isnan(s[r]) else int(((s > s[r]) | ((s == s[r]) & (positions < r))).sum()) + 1
                 for r in rel]
        out.append((order[row], min(ranks)))
    return out


@register_task_type
class Retrieval(StoredScoresTask):
    name = "retrieval"
    options_cls = RetrievalOptions
    default_metric = "recall_at_k"
    metrics = ("recall_at_k", "mrr")
    model_task = "feature-extraction"
    examples_cls = RetrievalExamples

    def load(self, data: str, options: RetrievalOptions, *, split: str, max_examples: int | None,
             where: str) -> Examples:
        rows = load_rows(data, split=split, max_examples=max_examples, where=f"{where}.data")
        if options.corpus is None:
            require_columns(rows, {"query_column": options.query_column,
                                   "document_column": options.document_column}, where)
            doc_texts = list(dict.fromkeys(map(str, rows[options.document_column])))
            position = {text: str(i) for i, text in enumerate(doc_texts)}
            doc_ids = [str(i) for i in range(len(doc_texts))]
            references = [[position[str(d)]] for d in rows[options.document_column]]
        else:
            require_columns(rows, {"query_column": options.query_column,
                                   "relevant_column": options.relevant_column}, where)
            doc_ids, doc_texts = self._corpus(data, options.corpus, options, where)
            references = [_as_ids(v) for v in rows[options.relevant_column]]
            known = set(doc_ids)
            for i, rel in enumerate(references):
                if not rel:
                    raise ConfigError(f"{where}.relevant_column = {options.relevant_column!r}: row {i} names no "
                                      "relevant document")
                unknown = [d for d in rel if d not in known]
                if unknown:
                    raise ConfigError(f"{where}.relevant_column = {options.relevant_column!r}: row {i} names "
                                      f"{unknown[:3]}, not ids in the corpus {options.corpus!r}")
        return RetrievalExamples(inputs=[str(q) for q in rows[options.query_column]], references=references,
                                 doc_ids=doc_ids, doc_texts=doc_texts)

    def _corpus(self, data: str, corpus: str, options: RetrievalOptions, where: str) -> tuple[list[str], list[str]]:
        path = find_near(corpus, data)
        if path is None:
            raise ConfigError(f"{where}.corpus = {corpus!r}: no such file (looked in the working directory "
                              "and in the data file's folder and those above it)")
        docs = load_rows(str(path), where=f"{where}.corpus")
        for key in ("doc_id_column", "doc_text_column"):
            column = getattr(options, key)
            if column not in docs.column_names:
                raise ConfigError(f"{where}.{key} = {column!r}: the corpus {corpus!r} has no such column; "
                                  f"columns: {', '.join(docs.column_names)}")
        doc_ids = [str(d) for d in docs[options.doc_id_column]]
        if len(set(doc_ids)) != len(doc_ids):
            repeated = sorted(d for d, count in Counter(doc_ids).items() if count > 1)[:3]
            raise ConfigError(f"{where}.doc_id_column = {options.doc_id_column!r}: ids {repeated} appear more than "
                              "once in the corpus")
        return doc_ids, [str(t) for t in docs[options.doc_text_column]]

    def predict(self, model: LoadedModel, examples: Examples, options: RetrievalOptions, *,
                batch_size: int, progress: Progress | None = None) -> Predictions:
        if not isinstance(examples, RetrievalExamples) or examples.doc_ids is None or examples.doc_texts is None:
            raise TypeError("retrieval predictions need the examples its load() returns (they carry the corpus)")
        doc_stats, query_stats = EmbeddingStats(), EmbeddingStats()
        documents = encode(model, examples.doc_texts, max_length=options.max_length, batch_size=batch_size,
                           stats=doc_stats)
        position = {d: i for i, d in enumerate(examples.doc_ids)}
        values: list[dict[str, Any]] = []
        starts = range(0, len(examples), batch_size)
        for start, batch in zip(starts, batches(examples.inputs, batch_size)):
            queries = encode(model, list(batch), max_length=options.max_length, batch_size=batch_size,
                             stats=query_stats)
            relevant = [[position[d] for d in examples.references[i]] for i in range(start, start + len(batch))]
            for top, rank in rank_queries(queries, documents, relevant, options.k):
                values.append({"ranked": [examples.doc_ids[j] for j in top], "rank": rank})
            if progress:
                progress(len(batch))
        broken_docs = sum(doc_stats.nonfinite_mask)
        extra = {PER_EXAMPLE: self.stored_scores(values, examples.references), "nonfinite_documents": broken_docs,
                 "identical_query_embeddings": query_stats.collapsed,
                 "identical_document_embeddings": doc_stats.collapsed}
        # A NaN document embedding spoils every query's ranking; a NaN query only its own.
        nonfinite = len(values) if broken_docs else sum(query_stats.nonfinite_mask)
        return Predictions(values=values, nonfinite=nonfinite, extra=extra)

    def collapse(self, predictions: Predictions, examples: Examples) -> str | None:
        found = super().collapse(predictions, examples)
        if found:
            return found
        if predictions.extra.get("identical_query_embeddings"):
            return f"the model gives the same embedding to all {len(examples)} queries"
        if predictions.extra.get("identical_document_embeddings"):
            return "the model gives the same embedding to every document of the corpus"
        return None


def _as_ids(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]
