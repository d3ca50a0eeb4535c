"""Which transformers classes serve each task, and small helpers the handlers share."""

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


def load_onnx(model_dir: Path, task: str, *, file_name: str, provider: str = "CPUExecutionProvider",
              trust_remote_code: bool = False):
    """An ONNX graph written by ``compressors.onnx.export`` (or a quantized copy) as a model for ``task``."""
    from .onnx import OrtModel

    return OrtModel.from_pretrained(model_dir, file_name=file_name, provider=provider, task=task,
                                    trust_remote_code=trust_remote_code)


def load_transformers(model_dir: Path, task: str, *, trust_remote_code: bool = False, **kwargs):
    """Load a transformers model for ``task`` in eval mode on CPU, never running remote code unasked.

    A prune-heads stage is rebuilt by its own loader: ``from_pretrained`` alone would make the full shapes."""
    from .methods.attention_heads import load_head_pruned, records_pruned_heads

    if records_pruned_heads(model_dir):  # one device is enough for such a model: device_map="auto" means a GPU
        device = "auto" if kwargs.get("device_map") == "auto" else "cpu"
        return load_head_pruned(model_dir, task, trust_remote_code=trust_remote_code, device=device,
                                dtype=kwargs.get("dtype"), attn_implementation=kwargs.get("attn_implementation"))
    model = auto_class(task).from_pretrained(str(model_dir), trust_remote_code=trust_remote_code, **kwargs)
    return model.eval()


def copy_tokenizer(src: Path, dst: Path) -> None:
    """Carry the tokenizer (and generation config) into an artifact so it is self-contained."""
    for name in TOKENIZER_FILES:
        if (src / name).is_file() and not (dst / name).exists():
            shutil.copy2(src / name, dst / name)

