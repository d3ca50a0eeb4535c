#!/usr/bin/env python3
"""Write docs/configuration.md from the config schema itself: every key, its type, default and valid values.

The tables come from the typed dataclasses the loader validates against (``pytest_compressgate.config.schema``,
each compression method's config, each task type's options) and from the registries (methods, task types,
metrics, hardware presets); a key's description is the comment on its line in the dataclass. So a new key,
method or task type appears here by re-running this script, and ``tests/unit/test_config_reference.py``
fails while the committed file is stale.

    python scripts/gen_config_reference.py           # rewrite docs/configuration.md
    python scripts/gen_config_reference.py --check   # exit 1 when it is stale
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import enum
import inspect
import io
import sys
import textwrap
import tokenize
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "configuration.md"
# Defaults the loader applies itself (they depend on other keys, so the dataclass cannot hold them).
LOADER_DEFAULTS = {"cache_dir": '".compressgate"', "registry": '"sqlite:///<cache_dir>/registry.db"'}
# Descriptions of fields whose dataclass line has no comment (a comment there wins).
DESCRIPTIONS = {
    "GateConfig.source": "the model under test (a table, below)",
    "GateConfig.targets": "one table per deployment target (below)",
    "GateConfig.tasks": "one table per benchmark (below)",
    "GateConfig.cache_dir": "where artifacts, predictions and timings are cached, keyed by content",
    "GateConfig.registry": "`sqlite:///path.db` or `mlflow://<tracking-uri>`: where runs are recorded",
    "GateConfig.seed": "seed for bootstrap resampling, distillation and anything else random",
    "SourceConfig.revision": "a hub revision (branch, tag or commit) for a hub id",
    "SourceConfig.device": ("where the source is scored: `cpu`, one GPU (`cuda`), "
                            "or spread by accelerate (`auto`)"),
    "TargetConfig.hardware": "a hardware preset (below): decides the default kernels and whether it is scored here",
    "TargetConfig.recipe": "compression steps applied in order, each `{ method = \"...\", ...keys }` (below)",
    "TargetConfig.min_size_ratio": "fail unless the source's weights are at least this many times larger",
    "TargetConfig.min_speedup": ("fail unless batch-1 latency improves at least this much (checked on matching "
                                 "hardware; a causal LM on a CUDA GPU is timed decoding, else a forward)"),
    "TargetConfig.max_latency_ms": ("fail when median batch-1 latency exceeds this (checked on matching hardware; "
                                    "for a causal LM on a CUDA GPU: the time of 32 decoding steps)"),
    "TargetConfig.stage_thresholds": "threshold keys per stage number, gating intermediate stages",
    "TaskConfig.type": "the task type (below), which adds its own keys",
    "TaskConfig.max_examples": "score only the first N examples",
    "TaskConfig.batch_size": "examples per forward pass (dynamic INT8 scales depend on batch contents)",
    "Thresholds.decision": ("`estimate` (the point drop), `confident-pass` or `confident-fail` "
                            "(the paired interval's bound)"),
    "Thresholds.confidence": "one-sided coverage of each interval bound, in [0.5, 1)",
    "Thresholds.max_drop_increase": "fail when the drop grew more than this since the `--compress-gate-baseline` run",
    "Thresholds.inconclusive": "what an INCONCLUSIVE confident verdict does to the build: `fail` or `pass` (default: "
                               "`fail` for confident-pass, `pass` for confident-fail)",
}


def field_comments(cls: type) -> dict[str, str]:
    """The trailing comment on each field's line in ``cls``'s source (its description)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments = {tok.start[0]: tok.string.lstrip("# ").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
    found = {}
    for node in ast.parse(source).body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            line = node.end_lineno or node.lineno
            if line in comments:
                found[node.target.id] = comments[line]
    return found


def type_text(tp: Any) -> str:
    from compressors.typed import describe

    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        text = " or ".join(type_text(a) for a in args)
        return text + " (optional)" if len(args) < len(typing.get_args(tp)) else text
    if tp is Any:
        return "any"
    if tp is dict or origin is dict or dataclasses.is_dataclass(tp):
        return "a table"
    if tp is Path:
        return "a string (a path)"
    item = typing.get_args(tp)[0] if origin in (list, tuple) and typing.get_args(tp) else None
    if item is not None and (typing.get_origin(item) is dict or dataclasses.is_dataclass(item)):
        return "a list of tables"
    return describe(tp)


def default_text(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return "**required**"
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, (tuple, list)):
        return "`[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value) + "]`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    return f"`{value}`"


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def fields_table(cls: type, keys: tuple[str, ...] | None = None, *, renames: dict[str, str] | None = None,
                 extra: list[tuple[str, str, str, str]] = ()) -> list[str]:
    """A Markdown table of ``cls``'s fields (only ``keys`` where given, in that order)."""
    hints, comments = typing.get_type_hints(cls), field_comments(cls)
    comments = {**{k.split(".", 1)[1]: v for k, v in DESCRIPTIONS.items() if k.startswith(cls.__name__ + ".")},
                **comments}
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    renames = renames or {}
    names = [n for n in (keys or fields) if renames.get(n, n) in fields]
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for name in names:
        field = fields[renames.get(name, name)]
        default = LOADER_DEFAULTS.get(name) and f"`{LOADER_DEFAULTS[name]}`" or default_text(field)
        kind = type_text(hints[field.name])
        if field.metadata.get("path"):  # declared with compressors.typed.path_field
            kind = "a table of paths" if kind == "a table" else kind.replace("a string", "a path", 1)
        lines.append(f"| `{name}` | {cell(kind)} | {cell(default)} | "
                     f"{cell(comments.get(field.name, ''))} |")
    lines += [f"| `{k}` | {cell(t)} | {cell(d)} | {cell(c)} |" for k, t, d, c in extra]
    return lines


def doc_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    if isinstance(obj, type) and doc.startswith(f"{obj.__name__}("):  # a dataclass's generated signature
        return ""
    return " ".join(doc.split("\n\n")[0].split())


def render() -> str:
    from compressors.base import METHODS, _ensure_builtin_methods
    from pytest_compressgate.config import loading, schema
    from pytest_compressgate.targets import PRESETS
    from pytest_compressgate.tasks import METRICS, TASK_TYPES

    _ensure_builtin_methods()
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by scripts/gen_config_reference.py from the config schema; do not edit by hand. -->",
        "",
        "Every key of `[tool.compressgate]` in `pyproject.toml` (or the top level of a `compressgate.toml`),",
        "with its type, default and valid values. The loader checks each against these same dataclasses, so an",
        "unknown key or a wrong type is one line naming the key path and what is valid. Paths are relative to",
        "the config file's folder; keys whose type reads \"a path\" are declared paths: resolved there when the",
        "config loads, checked before anything is built (the file exists and is not empty) and keyed by the",
        "file's bytes. Generated from the code: `python scripts/gen_config_reference.py`.",
        "",
        "## Top level",
        "",
        *fields_table(schema.GateConfig, loading.TOP_KEYS),
        "",
        "## `source`",
        "",
        doc_line(schema.SourceConfig) or "The model under test: the reference every target is compared with.",
        "",
        *fields_table(schema.SourceConfig),
        "",
        f"`task` (the model class the source loads with) is one of: {_model_tasks()}.",
        "",
        "## `targets.<name>`",
        "",
        "One deployment target: the hardware it ships to and the recipe that builds its artifact.",
        "",
        *fields_table(schema.TargetConfig, loading.TARGET_KEYS, renames={"stages": "stage_thresholds"}),
        "",
        "`stages` is a table from stage number (0 = the recipe's first step) to threshold keys (below), which",
        "gate that intermediate stage on every task.",
        "",
        "`hardware` presets:",
        "",
        "| preset | what it needs |",
        "|---|---|",
        *[f"| `{name}` | {cell(PRESETS.get(name).description)} |" for name in PRESETS.names()],
        "",
        "## `tasks.<name>`",
        "",
        "One benchmark: a data file, a task type and the thresholds every target must meet on it.",
        "",
        *fields_table(schema.TaskConfig, tuple(k for k in loading.TASK_KEYS if k != "targets")),
        "",
        "`tasks.<name>.targets.<target>` overrides threshold keys for one target.",
        "",
        "### Thresholds (on a task, `tasks.<name>.targets.<target>` or `targets.<name>.stages.<i>`)",
        "",
        doc_line(schema.Thresholds),
        "",
        *fields_table(schema.Thresholds, loading.THRESHOLD_KEYS),
        "",
        "### Task types and their keys",
        "",
        "A task's `type` adds these keys to `tasks.<name>`:",
        "",
    ]
    for name in TASK_TYPES.names():
        task_type = TASK_TYPES.get(name)
        module_doc = doc_line(sys.modules[type(task_type).__module__])
        out += [f"#### `type = \"{name}\"`", "", module_doc, "",
                f"Metrics: {', '.join(f'`{m}`' for m in task_type.metrics)} (default `{task_type.default_metric}`)"
                + (" and any other registered metric" if name == "custom" else "") + ". Source tasks it can score: "
                + ", ".join(f"`{t}`" for t in task_type.source_tasks()) + ".", ""]
        out += fields_table(task_type.options_cls) if dataclasses.fields(task_type.options_cls) else ["(no keys)"]
        out.append("")
    out += ["## Recipe steps: `targets.<name>.recipe = [{ method = \"...\", ... }]`", "",
            "Each step is a table with `method` and that method's keys.", ""]
    for name in METHODS.names():
        method = METHODS.get(name)
        accepts = ", ".join(f"`{f.value}`" for f in method.accepts)
        out += [f"### `{name}`", "", method.description, "", f"Takes a model in format: {accepts}.", ""]
        out += fields_table(method.config_cls) if dataclasses.fields(method.config_cls) else ["(no keys)"]
        out.append("")
    out += ["## Metrics", "", "| metric | higher is better | kind |", "|---|---|---|"]
    for name in METRICS.names():
        metric = METRICS.get(name)
        kind = "per example, binary (McNemar, discordant-pair interval)" if metric.binary else (
            "per example (paired bootstrap)" if metric.per_example else "corpus-level (bootstrap recomputes it)")
        out.append(f"| `{name}` | {'yes' if metric.higher_is_better else 'no'} | {kind} |")
    return "\n".join(out) + "\n"


def _model_tasks() -> str:
    from compressors.modelio import TASK_CLASSES

    return ", ".join(f"`{t}`" for t in sorted(TASK_CLASSES))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/configuration.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run python scripts/gen_config_reference.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
