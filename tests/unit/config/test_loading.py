"""Config validation: typed objects on good input, errors naming key path, value and what is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_compressgate.config import ConfigError, load_config
from pytest_compressgate.stats import DecisionMode

GOOD = """
[tool.compressgate]
source = { model = "models/m", task = "text-classification" }
cache_dir = ".cg"

[tool.compressgate.targets.cpu-int8]
hardware = "x86-avx512-vnni"
recipe = [{ method = "onnx-dynamic-int8", per_channel = false }]
min_size_ratio = 3

[tool.compressgate.tasks.intent]
data = "data/test.jsonl"
metric = "macro_f1"
max_drop = 0.01
max_relative_drop = 0.02
min_score = 0.8
decision = "confident-pass"
text_column = "utterance"
[tool.compressgate.tasks.intent.targets.cpu-int8]
max_drop = 0.03
"""


def write(tmp_path: Path, text: str, name: str = "pyproject.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_config_becomes_typed_objects(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.source.model == "models/m" and config.source.trust_remote_code is False
    assert config.cache_dir == tmp_path / ".cg"
    target = config.targets["cpu-int8"]
    assert target.hardware == "x86-avx512-vnni" and target.min_size_ratio == 3.0
    task = config.tasks["intent"]
    assert task.metric == "macro_f1" and task.options.text_column == "utterance"
    assert task.thresholds.decision is DecisionMode.CONFIDENT_PASS
    assert task.thresholds_for("cpu-int8").max_drop == 0.03
    assert task.thresholds_for("other").max_drop == 0.01


def test_compressgate_toml_has_keys_at_top_level(tmp_path: Path) -> None:
    text = GOOD.replace("[tool.compressgate]", "").replace("tool.compressgate.", "")
    config = load_config(write(tmp_path, text, "compressgate.toml"))
    assert list(config.tasks) == ["intent"]


def test_allowed_drop_is_the_tighter_limit() -> None:
    from pytest_compressgate.config import Thresholds

    assert Thresholds(max_drop=0.05, max_relative_drop=0.02).allowed_drop(0.9) == pytest.approx(0.018)
    assert Thresholds(max_drop=0.01, max_relative_drop=0.02).allowed_drop(0.9) == pytest.approx(0.01)
    assert Thresholds().allowed_drop(0.9) == 0.0


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("min_score = 0.8", "min_scor = 0.8",
         "tool.compressgate.tasks.intent.min_scor: unknown key. Did you mean 'min_score'?"),
        ('decision = "confident-pass"', 'decision = "confident"',
         "tool.compressgate.tasks.intent.decision = 'confident' is invalid: "
         "expected one of 'estimate', 'confident-pass', 'confident-fail'"),
        ("max_drop = 0.01", 'max_drop = "1%"',
         "tool.compressgate.tasks.intent.max_drop = '1%' is invalid: expected a number"),
        ('text_column = "utterance"', "text_column = 3", "text_column = 3 is invalid: expected a string"),
        ("per_channel = false", "per_channel = false, preset = 'avx3'",
         "recipe[0].preset = 'avx3' is invalid: expected one of 'avx512_vnni', 'avx512', 'avx2', 'arm64'"),
        ("min_size_ratio = 3", "min_size_ration = 3",
         "targets.cpu-int8.min_size_ration: unknown key. Did you mean 'min_size_ratio'?"),
        ('cache_dir = ".cg"', 'cache_dir = ".cg"\nseed = "x"',
         "tool.compressgate.seed = 'x' is invalid: expected an integer"),
        ('[{ method = "onnx-dynamic-int8", per_channel = false }]', "[]", "recipe is empty"),
        ('task = "text-classification"', 'task = "text-classification", trust_remote = true',
         "source.trust_remote: unknown key. Did you mean 'trust_remote_code'?"),
    ],
)
def test_errors_name_key_value_and_valid_choices(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace(old, new)))
    assert message in str(info.value)
    assert str(info.value).startswith("pyproject.toml: ")
    assert "\n" not in str(info.value)


def test_missing_source_and_empty_tables(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tool.compressgate.source is required"):
        load_config(write(tmp_path, "[tool.compressgate]\ncache_dir = 'x'\n"))
    with pytest.raises(ConfigError, match=r"declare at least one target"):
        load_config(write(tmp_path, "[tool.compressgate]\nsource = { model = 'm' }\n"))


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"compressgate.toml: not valid TOML"):
        load_config(write(tmp_path, "[oops", "compressgate.toml"))


def test_stage_thresholds_must_name_a_stage(tmp_path: Path) -> None:
    text = GOOD.replace("min_size_ratio = 3", "stages = { 3 = { max_drop = 0.1 } }")
    with pytest.raises(ConfigError, match=r"stages.3: expected a stage number from 0 to 0"):
        load_config(write(tmp_path, text))


def test_a_task_type_the_source_model_cannot_serve_is_named(tmp_path: Path) -> None:
    text = GOOD.replace('metric = "macro_f1"\n', 'type = "perplexity"\n').replace('text_column = "utterance"\n', "")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert "tool.compressgate.tasks.intent.type: a 'perplexity' task cannot score the source" in message
    assert ("tool.compressgate.source.task = 'text-classification' loads as AutoModelForSequenceClassification"
            in message)
    assert "Set source.task to one of causal-lm, text-generation" in message
    assert "use a task type for this model: custom, text-classification." in message


def test_unknown_source_task_gets_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="source.task: unknown model task 'text-clasification'. "
                                          "Did you mean 'text-classification'"):
        load_config(write(tmp_path, GOOD.replace('task = "text-classification"', 'task = "text-clasification"')))


@pytest.mark.parametrize(("source_task", "task_type"), [
    ("causal-lm", "summarization"), ("summarization", "text-generation"), ("causal-lm", "perplexity"),
    ("feature-extraction", "retrieval"), ("embedding-similarity", "embedding-similarity"),
    ("question-answering", "custom"),
])
def test_compatible_pairs_load(tmp_path: Path, source_task: str, task_type: str) -> None:
    text = (GOOD.replace('task = "text-classification"', f'task = "{source_task}"')
            .replace('metric = "macro_f1"\n', f'type = "{task_type}"\n').replace('text_column = "utterance"\n', ""))
    if task_type == "custom":
        text = text.replace(f'type = "{task_type}"\n', f'type = "{task_type}"\nscorer = "mymod:score"\n')
    assert load_config(write(tmp_path, text)).tasks["intent"].type == task_type


def test_source_device(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD)).source.device.value == "cpu"  # the default
    text = GOOD.replace('task = "text-classification" }', 'task = "text-classification", device = "auto" }')
    assert load_config(write(tmp_path, text)).source.device.value == "auto"
    with pytest.raises(ConfigError, match="source.device = 'tpu' is invalid: expected one of 'cpu', 'cuda', 'auto'"):
        load_config(write(tmp_path, GOOD.replace('task = "text-classification" }',
                                                 'task = "text-classification", device = "tpu" }')))
