"""Text classification: one label per text, scored by accuracy or macro-F1."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from .base import Examples, LoadedModel, Predictions, Progress, TaskType, batches, register_task_type
from .data import load_rows, require_columns


@dataclass(frozen=True)
class TextClassificationOptions:
    text_column: str = "text"
    text_pair_column: str | None = None  # for sentence-pair tasks (NLI, paraphrase)
    label_column: str = "label"
    max_length: int = 128


def label_names(model: Any) -> dict[int, str]:
    config = getattr(model, "config", None)
    return {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}


@register_task_type
class TextClassification(TaskType):
    name = "text-classification"
    options_cls = TextClassificationOptions
    default_metric = "accuracy"
    metrics = ("accuracy", "macro_f1")
    model_task = "text-classification"

    def load(self, data: str, options: TextClassificationOptions, *, split: str, max_examples: int | None,
             where: str) -> Examples:
        rows = load_rows(data, split=split, max_examples=max_examples, where=f"{where}.data")
        columns = {"text_column": options.text_column, "label_column": options.label_column}
        if options.text_pair_column:
            columns["text_pair_column"] = options.text_pair_column
        require_columns(rows, columns, where)
        texts = rows[options.text_column]
        inputs = list(zip(texts, rows[options.text_pair_column])) if options.text_pair_column else list(texts)
        return Examples(inputs=inputs, references=list(rows[options.label_column]))

    def predict(self, model: LoadedModel, examples: Examples, options: TextClassificationOptions, *,
                batch_size: int, progress: Progress | None = None) -> Predictions:
        import torch

        names = label_names(model.model)
        by_name = bool(examples.references) and isinstance(examples.references[0], str)
        if by_name and names and not set(map(str, examples.references)) <= set(names.values()):
            unknown = sorted(set(map(str, examples.references)) - set(names.values()))[:5]
            raise ValueError(
                f"labels {unknown} in the data are not among the model's labels ({', '.join(sorted(names.values()))})"
            )
        values: list[str | int] = []  # label names when the references are names, else class ids
        nonfinite = 0
        for batch in batches(examples.inputs, batch_size):
            if options.text_pair_column:
                first, second = [list(x) for x in zip(*batch)]
                enc = model.tokenizer(first, second, padding=True, truncation=True,
                                      max_length=options.max_length, return_tensors="pt")
            else:
                enc = model.tokenizer(list(batch), padding=True, truncation=True,
                                      max_length=options.max_length, return_tensors="pt")
            with torch.inference_mode():
                logits = torch.as_tensor(model(**enc).logits).float()
            nonfinite += int((~torch.isfinite(logits)).any(dim=-1).sum())
            ids = logits.argmax(dim=-1).tolist()
            values.extend(names.get(i, str(i)) if by_name else i for i in ids)
            if progress:
                progress(len(batch))
        return Predictions(values=values, nonfinite=nonfinite)

    def collapse(self, predictions: Predictions, examples: Examples) -> str | None:
        return super().collapse(predictions, examples) or one_class_collapse(predictions, examples)


def one_class_collapse(predictions: Predictions, examples: Examples) -> str | None:
    """A sentence when one class is predicted for every example of data that holds several, else None."""
    counts = Counter(map(str, predictions.values))
    classes = set(map(str, examples.references))
    if len(classes) > 1 and len(counts) == 1 and len(examples) >= 10:
        (only, _), = counts.items()
        return f"the model predicts one class ({only!r}) for all {len(examples)} examples"
    return None
