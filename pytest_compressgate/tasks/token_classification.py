"""Token classification (extraction, NER): a BIO tag per word, scored by entity-level F1.

The data holds words (``tokens_column``) and their gold tags (``tags_column``, strings such as "B-PER";
a ``datasets`` ClassLabel sequence is turned into its names). The model tags sub-tokens; each word takes
the tag of its first sub-token, and a word truncated away (past ``max_length``) is tagged "O", which counts
against recall the same way for both models. The prediction kept per example is the list of word tags.

``entity_f1`` is seqeval's default (conlleval) micro F1 over entities: corpus-level, so it has no
per-example form. Each example's counts (true positives, predicted and gold entities) are kept with the
predictions, and a bootstrap resample sums them instead of re-extracting every entity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compressors.errors import ConfigError, require

from .base import Examples, Index, LoadedModel, Predictions, Progress, batches, register_task_type
from .classification import label_names
from .data import load_rows, require_columns
from .metrics import Metric, register_metric
from .scoring import StoredScoresTask, nonfinite_rows, require_positive

COUNTS = "entity_counts"  # Predictions.extra key: [true positives, predicted, gold] per example


@dataclass(frozen=True)
class TokenClassificationOptions:
    tokens_column: str = "tokens"  # a list of words per example
    tags_column: str = "ner_tags"  # a list of BIO tag strings, one per word
    max_length: int = 256  # sub-tokens per example; words past it are tagged "O"

    def __post_init__(self) -> None:
        require_positive(self, "max_length")


def entity_counts(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> np.ndarray:
    """Per example: entities found exactly (type and span), entities predicted, gold entities."""
    get_entities = require("seqeval.metrics.sequence_labeling", extra="metrics",
                           purpose="the entity_f1 metric").get_entities
    rows = []
    for pred, gold in zip(predictions, references, strict=True):
        pred_entities, gold_entities = set(get_entities(list(pred))), set(get_entities(list(gold)))
        rows.append((len(pred_entities & gold_entities), len(pred_entities), len(gold_entities)))
    return np.array(rows, dtype=float).reshape(-1, 3)


def f1_from_counts(counts: np.ndarray) -> float:
    """Micro F1 = 2 TP / (predicted + gold); 0 when there are no entities at all (as seqeval)."""
    tp, predicted, gold = counts.sum(axis=0) if len(counts) else (0.0, 0.0, 0.0)
    return float(2 * tp / (predicted + gold)) if predicted + gold else 0.0


def _entity_f1(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    return f1_from_counts(entity_counts(predictions, references))


ENTITY_F1 = register_metric(Metric("entity_f1", _entity_f1, package="seqeval"))


def word_tags(word_ids: Sequence[int | None], label_ids: Sequence[int], n_words: int,
              names: dict[int, str]) -> list[str]:
    """Each word's tag from its first sub-token; words with no sub-token (truncated) get "O"."""
    tags = ["O"] * n_words
    seen: set[int] = set()
    for position, word in enumerate(word_ids):
        if word is None or word in seen or word >= n_words:
            continue
        seen.add(word)
        tags[word] = names.get(int(label_ids[position]), str(label_ids[position]))
    return tags


@register_task_type
class TokenClassification(StoredScoresTask):
    name = "token-classification"
    options_cls = TokenClassificationOptions
    default_metric = "entity_f1"
    metrics = ("entity_f1",)
    model_task = "token-classification"

    def load(self, data: str, options: TokenClassificationOptions, *, split: str, max_examples: int | None,
             where: str) -> Examples:
        rows = load_rows(data, split=split, max_examples=max_examples, where=f"{where}.data")
        require_columns(rows, {"tokens_column": options.tokens_column, "tags_column": options.tags_column}, where)
        tokens, tags = rows[options.tokens_column], rows[options.tags_column]
        class_names = _class_label_names(rows.features[options.tags_column])
        if class_names:
            tags = [[class_names[t] for t in row] for row in tags]
        for i, (words, row_tags) in enumerate(zip(tokens, tags)):
            if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                raise ConfigError(f"{where}.tokens_column = {options.tokens_column!r}: row {i} is not a list of words")
            if not isinstance(row_tags, list) or not all(isinstance(t, str) for t in row_tags):
                raise ConfigError(
                    f"{where}.tags_column = {options.tags_column!r}: row {i} is not a list of tag strings "
                    f"such as 'B-PER' (got {row_tags!r:.80})"
                )
            if len(words) != len(row_tags):
                raise ConfigError(f"{where}: row {i} has {len(words)} words but {len(row_tags)} tags")
        return Examples(inputs=[list(w) for w in tokens], references=[list(t) for t in tags])

    def predict(self, model: LoadedModel, examples: Examples, options: TokenClassificationOptions, *,
                batch_size: int, progress: Progress | None = None) -> Predictions:
        import torch

        tokenizer = model.tokenizer
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"{self.name} needs a fast tokenizer (word alignment); "
                             f"{type(tokenizer).__name__} is not one")
        names = label_names(model.model)
        unknown = sorted({t for row in examples.references for t in row} - set(names.values()))
        if unknown:
            raise ValueError(f"tags {unknown[:5]} in the data are not among the model's labels "
                             f"({', '.join(sorted(names.values()))})")
        values: list[list[str]] = []
        nonfinite, dropped = 0, 0
        for batch in batches(examples.inputs, batch_size):
            enc = tokenizer(list(batch), is_split_into_words=True, truncation=True, max_length=options.max_length,
                            padding=True, return_tensors="pt")
            with torch.inference_mode():
                logits = torch.as_tensor(model(**enc).logits).float()
            mask = enc["attention_mask"].bool()
            nonfinite += int(nonfinite_rows(torch.where(mask[..., None], logits, 0.0)).sum())
            label_ids = logits.argmax(dim=-1).tolist()
            for i, words in enumerate(batch):
                word_ids = enc.word_ids(i)
                values.append(word_tags(word_ids, label_ids[i], len(words), names))
                dropped += len(words) - len({w for w in word_ids if w is not None})
            if progress:
                progress(len(batch))
        counts = entity_counts(values, examples.references)
        return Predictions(values=values, nonfinite=nonfinite,
                           extra={COUNTS: counts.astype(int).tolist(), "untagged_words": dropped})

    def corpus_score(self, metric: Metric, predictions: Predictions, examples: Examples,
                     index: Index | None) -> float:
        if metric.name != ENTITY_F1.name:
            return super().corpus_score(metric, predictions, examples, index)
        stored = predictions.extra.get(COUNTS)
        if stored is not None and len(stored) == len(predictions.values):
            counts = np.asarray(stored, dtype=float).reshape(-1, 3)
        else:
            counts = entity_counts(predictions.values, examples.references)
        if index is not None:
            counts = counts[np.asarray(index, dtype=int)]
        return f1_from_counts(counts)

    def collapse(self, predictions: Predictions, examples: Examples) -> str | None:
        found = super().collapse(predictions, examples)
        if found:
            return found
        predicted = {t for row in predictions.values for t in row}
        gold = [t for row in examples.references for t in row]
        tagged = sum(t != "O" for t in gold)
        if len(predicted) == 1 and len(set(gold)) > 1 and tagged >= 10:
            (only,) = predicted
            return (f"the model tags every word {only!r} in all {len(examples)} examples, while {tagged} words "
                    "of the references carry entity tags")
        return None


def _class_label_names(feature: Any) -> list[str] | None:
    """The names of a ClassLabel sequence feature (tags stored as integers), else None."""
    import datasets

    inner = getattr(feature, "feature", None)
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None
