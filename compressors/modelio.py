"""Which transformers / optimum classes serve each task, and small helpers the handlers share."""

from __future__ import annotations

import shutil
from pathlib import Path

# task -> (transformers Auto class, optimum ORTModel class)
TASK_CLASSES: dict[str, tuple[str, str]] = {
    "text-classification": ("AutoModelForSequenceClassification", "ORTModelForSequenceClassification"),
    "token-classification": ("AutoModelForTokenClassification", "ORTModelForTokenClassification"),
    "question-answering": ("AutoModelForQuestionAnswering", "ORTModelForQuestionAnswering"),
    "causal-lm": ("AutoModelForCausalLM", "ORTModelForCausalLM"),
    "text-generation": ("AutoModelForCausalLM", "ORTModelForCausalLM"),
    "summarization": ("AutoModelForSeq2SeqLM", "ORTModelForSeq2SeqLM"),
    "feature-extraction": ("AutoModel", "ORTModelForFeatureExtraction"),
    "retrieval": ("AutoModel", "ORTModelForFeatureExtraction"),
    "embedding-similarity": ("AutoModel", "ORTModelForFeatureExtraction"),
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


def ort_class(task: str):
    from .errors import require

    onnxruntime = require("optimum.onnxruntime", extra="onnx", purpose="ONNX Runtime models")
    return getattr(onnxruntime, TASK_CLASSES[task][1])


def load_transformers(model_dir: Path, task: str, *, trust_remote_code: bool = False, **kwargs):
    """Load a transformers model for ``task`` in eval mode on CPU, never running remote code unasked."""
    model = auto_class(task).from_pretrained(str(model_dir), trust_remote_code=trust_remote_code, **kwargs)
    return model.eval()


def copy_tokenizer(src: Path, dst: Path) -> None:
    """Carry the tokenizer (and generation config) into an artifact so it is self-contained."""
    for name in TOKENIZER_FILES:
        if (src / name).is_file() and not (dst / name).exists():
            shutil.copy2(src / name, dst / name)


def linear_weight_share(model, predicate) -> dict:
    """Count layers selected by ``predicate(module)`` and their share of all parameters' elements."""
    total = sum(p.numel() for p in model.parameters())
    chosen = [m for m in model.modules() if predicate(m)]
    chosen_elems = sum(m.weight.numel() for m in chosen if getattr(m, "weight", None) is not None)
    return {"layers": len(chosen), "weight_share": round(chosen_elems / max(total, 1), 4)}
