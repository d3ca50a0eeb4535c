"""Perplexity of a causal LM on the team's own text: exp(total negative log-likelihood / scored tokens).

Long texts are scored with a sliding window of ``max_length`` tokens moved ``stride`` tokens at a time;
each window scores only the tokens the previous window did not, so every token after a text's first is
scored exactly once, with at least ``max_length - stride`` tokens of context once the text is that long
(the transformers "perplexity of fixed-length models" recipe). Texts are tokenized as the tokenizer
does by default (with a BOS token if it adds one); the first token has no prediction and is not scored.

The prediction kept per example is its summed NLL (nats) and its number of scored tokens. Perplexity is a
corpus-level metric, lower is better: it is not the mean of per-example perplexities (an example's weight
is its token count), so ``per_example`` is None and a bootstrap resample recomputes exp(sum NLL / sum
tokens) over the resampled examples, exactly as the full score is computed. The per-example mean NLL
(``per_example_nll``) is unbounded and available for reports, not used in the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Examples, Index, LoadedModel, Predictions, Progress, batches, register_task_type
from .data import load_rows, require_columns
from .metrics import Metric, register_metric
from .scoring import StoredScoresTask, require_positive


@dataclass(frozen=True)
class PerplexityOptions:
    text_column: str = "text"
    max_length: int = 512  # tokens per window; at most the model's positions
    stride: int = 256  # tokens the window moves (< max_length); later windows keep max_length - stride of context

    def __post_init__(self) -> None:
        require_positive(self, "max_length", "stride")
        if self.stride >= self.max_length:
            raise ValueError(f"stride = {self.stride} is invalid: expected less than max_length ({self.max_length}), "
                             "so each window starts inside the previous one and its first scored token has context")


def _perplexity(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    nll = sum(float(p["nll"]) for p in predictions)
    tokens = sum(int(p["tokens"]) for p in predictions)
    return exp_mean(nll, tokens)


def exp_mean(nll: float, tokens: float) -> float:
    """exp(nll / tokens): infinity rather than OverflowError for a hopeless model, NaN for no tokens."""
    if not tokens:
        return float("nan")
    mean = nll / tokens
    return float("inf") if mean >= 700 else math.exp(mean)  # NaN stays NaN


PERPLEXITY = register_metric(Metric("perplexity", _perplexity, higher_is_better=False, bounded=False))


def per_example_nll(predictions: Predictions) -> np.ndarray:
    """Mean NLL per scored token of each example (NaN for an example with no scored token)."""
    return np.array([p["nll"] / p["tokens"] if p["tokens"] else math.nan for p in predictions.values])


def windows(ids: list[int], max_length: int, stride: int) -> list[tuple[list[int], int]]:
    """(window token ids, number of tokens at its end to score) covering ``ids`` once each, first excepted."""
    out = []
    previous_end = 0
    for begin in range(0, max(len(ids), 1), stride):
        end = min(begin + max_length, len(ids))
        scored = end - previous_end
        if begin == 0:
            scored -= 1  # the first token has nothing before it
        if scored > 0:
            out.append((ids[begin:end], scored))
        previous_end = end
        if end == len(ids):
            break
    return out


@register_task_type
class Perplexity(StoredScoresTask):
    name = "perplexity"
    options_cls = PerplexityOptions
    default_metric = "perplexity"
    metrics = ("perplexity",)
    model_task = "causal-lm"

    def load(self, data: str, options: PerplexityOptions, *, split: str, max_examples: int | None,
             where: str) -> Examples:
        rows = load_rows(data, split=split, max_examples=max_examples, where=f"{where}.data")
        require_columns(rows, {"text_column": options.text_column}, where)
        texts = [str(t) for t in rows[options.text_column]]
        return Examples(inputs=texts, references=[None] * len(texts))

    def predict(self, model: LoadedModel, examples: Examples, options: PerplexityOptions, *,
                batch_size: int, progress: Progress | None = None) -> Predictions:
        positions = _max_positions(model.model)
        if positions is not None and options.max_length > positions:
            raise ValueError(f"max_length = {options.max_length} exceeds the model's {positions} positions; "
                             f"set max_length to at most {positions}")
        values: list[dict[str, Any]] = []
        for batch in batches(examples.inputs, batch_size):
            values.extend(self._score_texts(model, list(batch), options, batch_size))
            if progress:
                progress(len(batch))
        nonfinite = sum(not math.isfinite(v["nll"]) for v in values)
        return Predictions(values=values, nonfinite=nonfinite)

    def _score_texts(self, model: LoadedModel, texts: list[str], options: PerplexityOptions,
                     batch_size: int) -> list[dict[str, Any]]:
        import torch

        pad = model.tokenizer.pad_token_id
        pad = pad if pad is not None else (model.tokenizer.eos_token_id or 0)
        pieces = [(i, ids, scored) for i, text in enumerate(texts)
                  for ids, scored in windows(model.tokenizer(text)["input_ids"], options.max_length, options.stride)]
        totals = [{"nll": 0.0, "tokens": 0} for _ in texts]
        for lo in range(0, len(pieces), batch_size):
            chunk = pieces[lo:lo + batch_size]
            width = max(len(ids) for _, ids, _ in chunk)
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            attention = torch.zeros((len(chunk), width), dtype=torch.long)
            targets = torch.full((len(chunk), width), -100, dtype=torch.long)
            for row, (_, ids, scored) in enumerate(chunk):
                input_ids[row, :len(ids)] = torch.tensor(ids)
                attention[row, :len(ids)] = 1
                targets[row, len(ids) - scored:len(ids)] = torch.tensor(ids[len(ids) - scored:])
            with torch.inference_mode():
                logits = torch.as_tensor(model(input_ids=input_ids, attention_mask=attention).logits).float()
            nll = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), targets[:, 1:].reshape(-1),
                ignore_index=-100, reduction="none").reshape(len(chunk), -1)
            nll = torch.where(targets[:, 1:] != -100, nll, 0.0).sum(dim=-1)  # keeps NaN in scored tokens
            for (example, _, scored), value in zip(chunk, nll.tolist()):
                totals[example]["nll"] += value
                totals[example]["tokens"] += scored
        return totals

    def corpus_score(self, metric: Metric, predictions: Predictions, examples: Examples,
                     index: Index | None) -> float:
        if metric.name != PERPLEXITY.name:
            return super().corpus_score(metric, predictions, examples, index)
        nll = np.array([float(v["nll"]) for v in predictions.values])
        tokens = np.array([int(v["tokens"]) for v in predictions.values], dtype=float)
        if index is not None:
            index = np.asarray(index, dtype=int)
            nll, tokens = nll[index], tokens[index]
        return exp_mean(float(nll.sum()), float(tokens.sum()))


def _max_positions(model: Any) -> int | None:
    config = getattr(model, "config", None)
    for key in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
