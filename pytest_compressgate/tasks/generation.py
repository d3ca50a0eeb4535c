"""Text generation and summarization: greedy decoding from a prompt, scored against a reference text.

Two task types share one implementation and differ in defaults and in the model class they expect:
``text-generation`` (a causal LM, source ``task = "causal-lm"``; columns prompt/reference; default metric
``exact_match``) and ``summarization`` (a seq2seq model, source ``task = "summarization"``; columns
document/summary; default metric ``rouge_l``). Which decoding path runs is decided by the model itself
(``config.is_encoder_decoder``), so either type works with either kind of model.

Decoding is greedy (no sampling, one beam) for ``max_new_tokens``, so source and compressed outputs differ
only because the models do. A causal LM's output starts with its prompt: prompts are left-padded and the
prompt tokens are cut before decoding, and over-long prompts lose their beginning (the instruction usually
ends a prompt), where a seq2seq document loses its end. ``stop_sequences`` cut a generation at the first
stop string. The reference may be one string or a list of acceptable strings.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .base import Examples, LoadedModel, Predictions, Progress, batches, register_task_type
from .data import load_rows, require_columns
from .scoring import PER_EXAMPLE, StoredScoresTask, require_positive
from .text_metrics import GENERATION_EXACT_MATCH


@dataclass(frozen=True)
class GenerationOptions:
    prompt_column: str = "prompt"
    reference_column: str = "reference"  # a string, or a list of acceptable strings
    max_new_tokens: int = 64
    max_input_length: int = 512  # prompt tokens kept
    prefix: str = ""  # put before every prompt, e.g. "summarize: " for T5
    stop_sequences: tuple[str, ...] = ()  # a generation ends at the first of these (not included)

    def __post_init__(self) -> None:
        require_positive(self, "max_new_tokens", "max_input_length")
        if any(not s for s in self.stop_sequences):
            raise ValueError("stop_sequences holds an empty string, which would cut every generation to nothing")


@dataclass(frozen=True)
class SummarizationOptions(GenerationOptions):
    prompt_column: str = "document"
    reference_column: str = "summary"
    max_new_tokens: int = 128


class NonFiniteWatch:
    """A logits processor that notes which sequences ever saw NaN or +inf logits, and changes nothing.

    -inf is left alone: generation masks tokens with it on purpose.
    """

    def __init__(self, size: int) -> None:
        import torch

        self.flags = torch.zeros(size, dtype=torch.bool)

    def __call__(self, input_ids, scores):
        import torch

        broken = (torch.isnan(scores) | torch.isposinf(scores)).any(dim=-1).cpu()
        self.flags[: len(broken)] |= broken
        return scores


@contextlib.contextmanager
def generation_tokenizer(tokenizer: Any, *, causal: bool) -> Iterator[Any]:
    """The tokenizer set up for batched generation, restored afterwards (other tasks share it).

    Causal LMs need left padding (new tokens follow the prompt directly) and a pad token.
    """
    saved = (tokenizer.padding_side, tokenizer.truncation_side, tokenizer.pad_token)
    try:
        if causal:
            tokenizer.padding_side = tokenizer.truncation_side = "left"
            if tokenizer.pad_token is None:
                if tokenizer.eos_token is None:
                    raise ValueError("the tokenizer has neither a pad nor an end-of-sequence token to pad prompts with")
                tokenizer.pad_token = tokenizer.eos_token
        yield tokenizer
    finally:
        tokenizer.padding_side, tokenizer.truncation_side = saved[:2]
        if tokenizer.pad_token != saved[2]:
            tokenizer.pad_token = saved[2]


def cut_at_stop(text: str, stop_sequences: tuple[str, ...]) -> str:
    ends = [text.find(s) for s in stop_sequences if s in text]
    return text[: min(ends)] if ends else text


def generate_texts(model: LoadedModel, prompts: list[str], options: GenerationOptions) -> tuple[list[str], int]:
    """Greedy generations for one batch of prompts, prompt removed; and how many saw NaN/inf logits."""
    import torch

    net = model.model
    causal = not getattr(getattr(net, "config", None), "is_encoder_decoder", False)
    with generation_tokenizer(model.tokenizer, causal=causal) as tokenizer:
        enc = tokenizer([options.prefix + p for p in prompts], padding=True, truncation=True,
                        max_length=options.max_input_length, return_token_type_ids=False, return_tensors="pt")
        watch = NonFiniteWatch(len(prompts))
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=options.max_new_tokens, do_sample=False, num_beams=1,
                               pad_token_id=tokenizer.pad_token_id, logits_processor=[watch])
        new_tokens = out[:, enc["input_ids"].shape[1]:] if causal else out
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [cut_at_stop(t, options.stop_sequences).strip() for t in texts], int(watch.flags.sum())


@register_task_type
class TextGeneration(StoredScoresTask):
    name = "text-generation"
    options_cls = GenerationOptions
    default_metric = "exact_match"
    metrics = ("exact_match", "rouge_l")
    model_task = "causal-lm"
    other_model_tasks = ("summarization",)  # greedy generation works the same with an encoder-decoder
    own_metrics = {"exact_match": GENERATION_EXACT_MATCH}

    def load(self, data: str, options: GenerationOptions, *, split: str, max_examples: int | None,
             where: str) -> Examples:
        rows = load_rows(data, split=split, max_examples=max_examples, where=f"{where}.data")
        require_columns(rows, {"prompt_column": options.prompt_column,
                               "reference_column": options.reference_column}, where)
        return Examples(inputs=[str(p) for p in rows[options.prompt_column]],
                        references=list(rows[options.reference_column]))

    def predict(self, model: LoadedModel, examples: Examples, options: GenerationOptions, *,
                batch_size: int, progress: Progress | None = None) -> Predictions:
        values: list[str] = []
        nonfinite = 0
        for batch in batches(examples.inputs, batch_size):
            texts, bad = generate_texts(model, list(batch), options)
            values.extend(texts)
            nonfinite += bad
            if progress:
                progress(len(batch))
        return Predictions(values=values, nonfinite=nonfinite,
                           extra={PER_EXAMPLE: self.stored_scores(values, examples.references)})

    def collapse(self, predictions: Predictions, examples: Examples) -> str | None:
        found = super().collapse(predictions, examples)
        if found:
            return found
        outputs = Counter(" ".join(str(v).split()) for v in predictions.values)
        if len(examples) and set(outputs) == {""}:
            return f"the model generates empty text for all {len(examples)} examples"
        references = {str(r) for r in examples.references}
        if len(examples) >= 10 and len(outputs) == 1 and len(references) > 1:
            (only,) = outputs
            return f"the model generates the same text ({only[:60]!r}) for all {len(examples)} examples"
        return None


@register_task_type
class Summarization(TextGeneration):
    name = "summarization"
    options_cls = SummarizationOptions
    default_metric = "rouge_l"
    model_task = "summarization"
    other_model_tasks = ("causal-lm",)  # a decoder-only model summarizes from a prompt
