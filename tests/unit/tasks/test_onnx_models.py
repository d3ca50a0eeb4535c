"""The task types run the project's ONNX Runtime models (what ONNX targets load as) and agree with the
PyTorch source."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_compressgate.tasks import TASK_TYPES, Examples, LoadedModel
from pytest_compressgate.tasks.embeddings import EmbeddingSimilarityOptions
from pytest_compressgate.tasks.generation import GenerationOptions
from pytest_compressgate.tasks.perplexity import PerplexityOptions
from pytest_compressgate.tasks.question_answering import QuestionAnsweringOptions
from pytest_compressgate.tasks.token_classification import TokenClassificationOptions


def _onnx(model: LoadedModel, task: str, tmp_path) -> LoadedModel:
    from compressors.onnx import OrtModel, export_pretrained

    path = export_pretrained(Path(model.path), tmp_path / "onnx", task=task)
    return LoadedModel(OrtModel.from_pretrained(path.parent, task=task), model.tokenizer, "onnx", model.path)


CASES = [
    ("ner_model", "token-classification", "token-classification", TokenClassificationOptions(),
     Examples([["john", "smith", "yorker"], ["mary"]], [["B-PER", "I-PER", "O"], ["O"]])),
    ("qa_model", "question-answering", "question-answering", QuestionAnsweringOptions(),
     Examples([("where ?", "John lives in Paris."), ("who ?", "Mary works at Acme Corp.")], [["Paris"], ["Mary"]])),
    ("gpt2", "causal-lm", "text-generation", GenerationOptions(max_new_tokens=4),
     Examples(["john lives in", "the cat sat on the"], ["paris", "mat"])),
]


@pytest.mark.parametrize(("fixture", "model_task", "task_type", "options", "examples"), CASES,
                         ids=[c[2] for c in CASES])
def test_onnx_predictions_match_pytorch(request, fixture, model_task, task_type, options, examples, tmp_path):
    source = request.getfixturevalue(fixture)
    task = TASK_TYPES.get(task_type)
    expected = task.predict(source, examples, options, batch_size=2)
    got = task.predict(_onnx(source, model_task, tmp_path), examples, options, batch_size=2)
    assert got.values == expected.values and got.nonfinite == 0


def test_encoder_decoder_models_are_refused_with_the_reason(t5, tmp_path):
    from compressors import CompressionError
    from compressors.onnx import export_pretrained

    with pytest.raises(CompressionError, match="not 'summarization'.*encoder-decoder"):
        export_pretrained(Path(t5.path), tmp_path / "onnx", task="summarization")
    assert not (tmp_path / "onnx").exists()


def test_onnx_embeddings_and_perplexity_match_pytorch(encoder, gpt2, tmp_path):
    similarity = TASK_TYPES.get("embedding-similarity")
    examples = Examples([("red car", "blue car"), ("john", "mary lives in paris")], [1.0, 2.0])
    options = EmbeddingSimilarityOptions()
    expected = similarity.predict(encoder, examples, options, batch_size=2).values
    onnx_encoder = _onnx(encoder, "feature-extraction", tmp_path / "encoder")
    got = similarity.predict(onnx_encoder, examples, options, batch_size=2).values
    assert got == pytest.approx(expected, abs=1e-4)

    perplexity = TASK_TYPES.get("perplexity")
    texts = Examples(["john lives in paris and mary lives in london"], [None])
    ppl_options = PerplexityOptions(max_length=6, stride=3)
    (want,) = perplexity.predict(gpt2, texts, ppl_options, batch_size=2).values
    (have,) = perplexity.predict(_onnx(gpt2, "causal-lm", tmp_path / "gpt2"), texts, ppl_options, batch_size=2).values
    assert have["tokens"] == want["tokens"] and have["nll"] == pytest.approx(want["nll"], rel=1e-4)
