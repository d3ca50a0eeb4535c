"""Extractive question answering: the answer is a span of the context, scored by SQuAD exact match and F1.

The answers column holds SQuAD-style ``{"text": [...], "answer_start": [...]}``, a plain answer string,
or a list of acceptable strings; an example scores its best-matching gold answer. A context longer than
``max_length`` is split into windows overlapping by ``doc_stride`` tokens, and the best span of all windows
wins. The best span maximizes start logit + end logit over context tokens, with the end not before the
start and at most ``max_answer_length`` tokens long (an exact search, not an n-best shortlist).

With ``allow_no_answer`` (SQuAD 2.0), the empty answer wins when the [CLS] position scores higher than the
best span, and rows without a gold answer mean "unanswerable". Without it, such rows are a config error.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from compressors.errors import ConfigError

from .base import Examples, LoadedModel, Predictions, Progress, batches, register_task_type
from .data import load_rows, require_columns
from .scoring import PER_EXAMPLE, StoredScoresTask, nonfinite_rows, require_positive
from .text_metrics import QA_EXACT_MATCH


@dataclass(frozen=True)
class QuestionAnsweringOptions:
    question_column: str = "question"
    context_column: str = "context"
    answers_column: str = "answers"  # SQuAD dict, one string, or a list of acceptable strings
    max_length: int = 384  # tokens per window (question + context)
    doc_stride: int = 128  # tokens shared by consecutive windows of a long context
    max_answer_length: int = 30  # tokens
    allow_no_answer: bool = False  # SQuAD 2.0: predict "" when [CLS] beats every span

    def __post_init__(self) -> None:
        require_positive(self, "max_length", "doc_stride", "max_answer_length")
        if self.doc_stride >= self.max_length:
            raise ValueError(f"doc_stride = {self.doc_stride} is invalid: expected less than max_length "
                             f"({self.max_length})")


def gold_answers(value: Any) -> list[str]:
    """The acceptable answers in one cell of the answers column ([] = unanswerable)."""
    if isinstance(value, dict):
        texts = value.get("text", [])
        return [texts] if isinstance(texts, str) else [str(t) for t in texts]
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value]


def best_spans(start, end, context_mask, max_answer_length: int):
    """Per feature: (score, start, end) of the best span inside the context; score -inf when none fits."""
    import torch

    length = start.shape[-1]
    scores = start[:, :, None] + end[:, None, :]
    positions = torch.arange(length)
    span = positions[None, :] - positions[:, None]  # end - start
    allowed = (span >= 0) & (span < max_answer_length)
    allowed = allowed[None] & context_mask[:, :, None] & context_mask[:, None, :]
    scores = torch.where(allowed, scores, torch.tensor(float("-inf")))
    best, flat = scores.reshape(scores.shape[0], -1).max(dim=-1)
    return best, flat // length, flat % length


@register_task_type
class QuestionAnswering(StoredScoresTask):
    name = "question-answering"
    options_cls = QuestionAnsweringOptions
    default_metric = "exact_match"
    metrics = ("exact_match", "qa_f1")
    model_task = "question-answering"
    own_metrics = {"exact_match": QA_EXACT_MATCH}

    def load(self, data: str, options: QuestionAnsweringOptions, *, split: str, max_examples: int | None,
             where: str) -> Examples:
        rows = load_rows(data, split=split, max_examples=max_examples, where=f"{where}.data")
        require_columns(rows, {"question_column": options.question_column, "context_column": options.context_column,
                               "answers_column": options.answers_column}, where)
        references = [gold_answers(v) for v in rows[options.answers_column]]
        if not options.allow_no_answer:
            missing = [i for i, answers in enumerate(references) if not answers]
            if missing:
                raise ConfigError(
                    f"{where}.answers_column = {options.answers_column!r}: rows {missing[:5]} have no answer; "
                    "set allow_no_answer = true for unanswerable (SQuAD 2.0) questions"
                )
        inputs = list(zip(rows[options.question_column], rows[options.context_column]))
        return Examples(inputs=inputs, references=references)

    def predict(self, model: LoadedModel, examples: Examples, options: QuestionAnsweringOptions, *,
                batch_size: int, progress: Progress | None = None) -> Predictions:
        tokenizer = model.tokenizer
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"{self.name} needs a fast tokenizer (character offsets); "
                             f"{type(tokenizer).__name__} is not one")
        values: list[str] = []
        nonfinite = 0
        for batch in batches(examples.inputs, batch_size):
            answers, bad = self._answer_batch(model, list(batch), options, batch_size)
            values.extend(answers)
            nonfinite += bad
            if progress:
                progress(len(batch))
        return Predictions(values=values, nonfinite=nonfinite,
                           extra={PER_EXAMPLE: self.stored_scores(values, examples.references)})

    def _answer_batch(self, model: LoadedModel, batch: list[tuple[str, str]], options: QuestionAnsweringOptions,
                      batch_size: int) -> tuple[list[str], int]:
        import torch

        questions, contexts = [q for q, _ in batch], [c for _, c in batch]
        enc = model.tokenizer(questions, contexts, truncation="only_second", max_length=options.max_length,
                              stride=options.doc_stride, return_overflowing_tokens=True,
                              return_offsets_mapping=True, padding=True, return_tensors="pt")
        sample = enc.pop("overflow_to_sample_mapping").tolist()
        offsets = enc.pop("offset_mapping").tolist()
        context_mask = torch.tensor([[s == 1 for s in enc.sequence_ids(f)] for f in range(len(sample))])
        cls_id = model.tokenizer.cls_token_id
        cls_positions = [ids.index(cls_id) if cls_id in ids else 0 for ids in enc["input_ids"].tolist()]
        best = [(float("-inf"), "")] * len(batch)  # per example: (score, answer)
        null = [float("inf")] * len(batch)
        bad = [False] * len(batch)
        for lo in range(0, len(sample), batch_size):  # long contexts give more windows than examples
            inputs = {k: v[lo:lo + batch_size] for k, v in enc.items()}
            with torch.inference_mode():
                out = model(**inputs)
            start, end = torch.as_tensor(out.start_logits).float(), torch.as_tensor(out.end_logits).float()
            broken = nonfinite_rows(torch.cat([start, end], dim=-1)).tolist()
            scores, starts, ends = best_spans(start, end, context_mask[lo:lo + batch_size], options.max_answer_length)
            for f, (score, s, e) in enumerate(zip(scores.tolist(), starts.tolist(), ends.tolist())):
                example, feature = sample[lo + f], lo + f
                bad[example] = bad[example] or broken[f]
                cls = cls_positions[feature]
                null[example] = min(null[example], float(start[f, cls] + end[f, cls]))
                if score > best[example][0]:
                    context = contexts[example]
                    best[example] = (score, context[offsets[feature][s][0]:offsets[feature][e][1]])
        answers = []
        for i, (score, text) in enumerate(best):
            answers.append("" if options.allow_no_answer and null[i] > score else text)
        return answers, sum(bad)

    def collapse(self, predictions: Predictions, examples: Examples) -> str | None:
        found = super().collapse(predictions, examples)
        if found:
            return found
        answered = sum(bool(refs) for refs in examples.references)
        answers = Counter(" ".join(str(v).split()) for v in predictions.values)
        if answered and set(answers) == {""}:
            return f"the model answers with an empty span for all {len(examples)} questions"
        golds = {tuple(refs) for refs in examples.references}
        if len(examples) >= 10 and len(answers) == 1 and len(golds) > 1:
            (only,) = answers
            return f"the model gives the same answer ({only[:60]!r}) to all {len(examples)} questions"
        return None
