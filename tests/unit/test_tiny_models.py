"""The shared tiny models are what every other test stands on: their tokenizers must hold the whole
vocabulary (transformers 5 once left five tokens and every word ``[UNK]`` without a word of warning)
and the trained classifier must really classify."""

from __future__ import annotations

from tests.tinymodels import FILLER, KEYWORDS, MIN_TINY_ACCURACY, classifier_accuracy, make_rows


def test_tiny_classifier_tokenizer_reloads_with_every_word(tiny_classifier_dir):
    from compressors.loaders import load_tokenizer

    tokenizer = load_tokenizer(tiny_classifier_dir)
    words = sorted(set(FILLER) | {w for ws in KEYWORDS.values() for w in ws})
    assert len(tokenizer) == 5 + len(words)
    ids = tokenizer(" ".join(w.upper() for w in words), add_special_tokens=False).input_ids  # lower-cased
    assert tokenizer.unk_token_id not in ids and len(ids) == len(words)
    assert tokenizer.convert_ids_to_tokens(ids) == words


def test_tiny_classifier_scores_well_above_chance_on_the_test_rows(tiny_classifier_dir):
    from compressors.loaders import load_model, load_tokenizer

    model = load_model(tiny_classifier_dir, task="text-classification")
    accuracy = classifier_accuracy(model, load_tokenizer(tiny_classifier_dir), make_rows(150, seed=99))
    assert accuracy >= MIN_TINY_ACCURACY  # chance is 1/3


def test_task_tokenizer_splits_into_its_subwords(tmp_path):
    from tests.unit.tasks.tiny_task_models import SUBWORDS, WORDS, bert_tokenizer

    tokenizer = bert_tokenizer(tmp_path)
    assert len(tokenizer) == 5 + len(WORDS) + len(SUBWORDS)
    assert tokenizer.tokenize("New Yorker cats") == ["new", "york", "##er", "cat", "##s"]
