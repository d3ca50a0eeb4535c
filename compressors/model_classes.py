"""Which transformers classes serve each task, and the tokenizer files an artifact carries along.

The bottom of the compression library: it imports nothing of the project, so the loaders, the methods
and the ONNX path can all read it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# task -> (transformers Auto class, the transformers output class whose fields its models return; the
# ONNX Runtime wrapper, compressors.onnx.OrtModel, returns the same class)
TASK_CLASSES: dict[str, tuple[str, str]] = {
    "text-classification": ("AutoModelForSequenceClassification", "SequenceClassifierOutput"),
    "token-classification": ("AutoModelForTokenClassification", "TokenClassifierOutput"),
    "question-answering": ("AutoModelForQuestionAnswering", "QuestionAnsweringModelOutput"),
    "causal-lm": ("AutoModelForCausalLM", "CausalLMOutput"),
    "text-generation": ("AutoModelForCausalLM", "CausalLMOutput"),
    "summarization": ("AutoModelForSeq2SeqLM", "Seq2SeqLMOutput"),
    "feature-extraction": ("AutoModel", "BaseModelOutput"),
    "retrieval": ("AutoModel", "BaseModelOutput"),
    "embedding-similarity": ("AutoModel", "BaseModelOutput"),
}

TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
    "vocab.json", "merges.txt", "spiece.model", "added_tokens.json", "generation_config.json",
)


def auto_class(task: str):
    import transformers

    if task not in TASK_CLASSES:
        from .errors import ConfigError

        raise ConfigError(f"unknown model task {task!r}; known: {', '.join(sorted(TASK_CLASSES))}")
    return getattr(transformers, TASK_CLASSES[task][0])


def copy_tokenizer(src: Path, dst: Path) -> None:
    """Carry the tokenizer (and generation config) into an artifact so it is self-contained."""
    for name in TOKENIZER_FILES:
        if (src / name).is_file() and not (dst / name).exists():
            shutil.copy2(src / name, dst / name)

