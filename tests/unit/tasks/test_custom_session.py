"""A custom task with a setup step, run through the gate's session on a trained tiny classifier.

The setup fits a logistic-regression probe on the source model's logits for the training rows (a stand-in for
"fit a probe on the source's embeddings"); a predictor labels the test rows with it, for the source and for a
torch dynamic INT8 artifact. Checked: the setup sees the source once for two tasks, accuracy and macro-F1
match a by-hand computation, a warm session loads no model, and each input of the key rebuilds what it must.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from pytest_compressgate.config import load_config
from pytest_compressgate.gate import GateOptions, GateSession
from tests.tinymodels import make_rows, write_jsonl

FUNCTIONS = '''
from pytest_compressgate.tasks.custom import register_predictor, register_setup

SETUP_CALLS = []


def logits(model, texts):
    import torch

    enc = model.tokenizer(list(texts), padding=True, return_tensors="pt")
    with torch.inference_mode():
        return torch.as_tensor(model(**enc).logits).float().numpy()


def fit(source, task):
    from sklearn.linear_model import LogisticRegression

    SETUP_CALLS.append(source.label)
    rows = task.rows("train")
    return LogisticRegression(C=task.params["C"], max_iter=500).fit(
        logits(source, [r["text"] for r in rows]), [r["label"] for r in rows])


def predict(model, examples, probe):
    return probe.predict(logits(model, [x["text"] for x in examples.inputs])).tolist()
'''

CONFIG = '''
[tool.compressgate]
source = {{ model = "{model}", task = "text-classification" }}
cache_dir = "cache"

[tool.compressgate.targets.cpu-int8]
hardware = "cpu"
recipe = [{{ method = "torch-dynamic-int8" }}]

'''
TASK = '''
[tool.compressgate.tasks.probe-{metric}]
type = "custom"
data = "test.jsonl"
setup = "{module}:fit"
predictor = "{module}:predict"
reference_column = "label"
files = {{ train = "train.jsonl" }}
params = {{ C = 1.0 }}
metric = "{metric}"
max_drop = 0.1
'''


@pytest.fixture
def project(tmp_path: Path, tiny_classifier_dir: Path, monkeypatch: pytest.MonkeyPatch):
    module = f"probe_functions_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(FUNCTIONS)
    monkeypatch.syspath_prepend(str(tmp_path))
    write_jsonl(tmp_path / "train.jsonl", make_rows(120, seed=5))
    write_jsonl(tmp_path / "test.jsonl", make_rows(90, seed=6))
    tasks = "".join(TASK.format(metric=metric, module=module) for metric in ("accuracy", "macro_f1"))
    (tmp_path / "pyproject.toml").write_text(CONFIG.format(model=tiny_classifier_dir) + tasks)
    yield tmp_path, importlib.import_module(module)
    sys.modules.pop(module, None)


def session(root: Path) -> GateSession:
    return GateSession(load_config(root / "pyproject.toml"), GateOptions(enabled=True))


def by_hand(model_dir: Path, root: Path) -> list[str]:
    """The same probe, fit and applied without the gate: transformers, scikit-learn and the data files."""
    import json

    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    def features(texts):
        out = []
        for start in range(0, len(texts), 32):  # the task's batch_size, in the data's order
            enc = tokenizer(texts[start:start + 32], padding=True, return_tensors="pt")
            with torch.inference_mode():
                out.extend(model(**enc).logits.float().numpy())
        return out

    train = [json.loads(line) for line in (root / "train.jsonl").read_text().splitlines()]
    test = [json.loads(line) for line in (root / "test.jsonl").read_text().splitlines()]
    probe = LogisticRegression(C=1.0, max_iter=500).fit(features([r["text"] for r in train]),
                                                         [r["label"] for r in train])
    return probe.predict(features([r["text"] for r in test])).tolist()


def test_setup_runs_once_and_corpus_metrics_match_a_by_hand_run(project, tiny_classifier_dir):
    from sklearn.metrics import accuracy_score, f1_score

    root, functions = project
    gate = session(root)
    accuracy = gate.compare("probe-accuracy", "cpu-int8")
    macro_f1 = gate.compare("probe-macro_f1", "cpu-int8")
    assert functions.SETUP_CALLS == ["source"]  # once, with the source, for both tasks

    references = [r["label"] for r in make_rows(90, seed=6)]
    expected = by_hand(tiny_classifier_dir, root)
    assert accuracy.source_score == pytest.approx(accuracy_score(references, expected), abs=1e-12)
    assert accuracy.source_score > 0.7, "the probe must learn (chance is 1/3)"
    assert macro_f1.source_score == pytest.approx(f1_score(references, expected, average="macro"), abs=1e-12)
    assert accuracy.n == macro_f1.n == 90 and accuracy.interval is not None and macro_f1.interval is not None
    assert accuracy.passed and macro_f1.passed, (accuracy.failures, macro_f1.failures)
    assert accuracy.performance.get("speedup"), "custom text inputs are timed"
    assert gate.compressed_model("cpu-int8").label == "cpu-int8"  # the target's name, not a stage's

    warm = session(root)
    again = warm.compare("probe-macro_f1", "cpu-int8")
    assert (again.source_score, again.compressed_score) == (macro_f1.source_score, macro_f1.compressed_score)
    retimed = bool(accuracy.performance.get("unreliable"))  # contended timings are never cached: a warm run re-times
    assert functions.SETUP_CALLS == ["source"] and (retimed or not warm.scorer._loaded), "a warm run loads no model"

    train = root / "train.jsonl"  # the probe's training file changes: its predictions rebuild, not the artifact
    train.write_text("".join(line for i, line in enumerate(train.read_text().splitlines(True)) if i % 4))
    edited = session(root)
    rescored = edited.compare("probe-macro_f1", "cpu-int8")
    assert functions.SETUP_CALLS == ["source", "source"] and edited.build("cpu-int8").final.cache_hit
    assert rescored.n == 90 and rescored.keys["examples"] != macro_f1.keys["examples"]


def test_the_key_holds_the_code_the_declared_files_and_the_params(project):
    root, functions = project
    task = lambda gate: gate.task("probe-accuracy")  # noqa: E731
    first = session(root)
    key = first.keys.examples(task(first))

    train = root / "train.jsonl"
    original = train.read_bytes()
    train.write_bytes(original.replace(b"invoice", b"receipt", 1))
    assert session(root).keys.examples(task(session(root))) != key, "a declared file's bytes"
    train.write_bytes(original)
    assert session(root).keys.examples(task(session(root))) == key

    source = Path(functions.__file__)
    source.write_text(source.read_text().replace("max_iter=500", "max_iter=400"))
    importlib.reload(functions)
    assert session(root).keys.examples(task(session(root))) != key, "the functions' source text"
    source.write_text(FUNCTIONS)
    importlib.reload(functions)
    assert session(root).keys.examples(task(session(root))) == key

    config = root / "pyproject.toml"
    config.write_text(config.read_text().replace("C = 1.0", "C = 0.01", 1))
    assert session(root).keys.examples(task(session(root))) != key, "params"


def test_without_text_to_time_the_rows_say_why(project):
    root, functions = project
    config = root / "pyproject.toml"
    config.write_text(config.read_text().replace('reference_column = "label"',
                                                 'reference_column = "label"\ntiming_column = "label"', 1))
    text = config.read_text()
    start = text.index("[tool.compressgate.tasks.probe-macro_f1]")
    config.write_text(text[:start])  # one task, whose timing column is not among its inputs
    comparison = session(root).compare("probe-accuracy", "cpu-int8")
    assert comparison.performance.get("speedup") is None
    assert ("speed not measured: tasks.probe-accuracy: timing_column = 'label' is not an input column holding "
            "text") in comparison.warnings
