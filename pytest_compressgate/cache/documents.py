"""What a cached JSON document must look like before anyone trusts it.

A check returns a sentence saying what is wrong, or None. The store refuses to keep a freshly built
document that fails (a scorer returned too few predictions, a run with a bad batch size scored nothing)
and rebuilds a stored one that fails, so a malformed result never outlives the run that made it.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def examples_problem(data: Any, cls: type | None = None) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("inputs"), list) \
            or not isinstance(data.get("references"), list):
        return "examples are not a JSON object with 'inputs' and 'references' lists"
    if len(data["inputs"]) != len(data["references"]):
        return f"{len(data['inputs'])} inputs but {len(data['references'])} references"
    if not data["inputs"]:
        return "no examples"
    if cls is not None and dataclasses.is_dataclass(cls):
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            return f"examples hold fields {sorted(unknown)} that {cls.__name__} does not have"
    return None


def predictions_problem(data: Any, n: int) -> str | None:
    """``n``: how many examples were scored; there must be exactly one prediction for each."""
    if not isinstance(data, dict) or not isinstance(data.get("values"), list):
        return "predictions are not a JSON object with a 'values' list"
    if len(data["values"]) != n:
        return f"{len(data['values'])} predictions for {n} examples (one per example is required)"
    if not isinstance(data.get("nonfinite", 0), int) or not isinstance(data.get("extra", {}), dict):
        return "predictions hold a malformed 'nonfinite' count or 'extra' table"
    unknown = set(data) - {"values", "nonfinite", "extra"}
    if unknown:
        return f"predictions hold unknown fields {sorted(unknown)}"
    return None


def timings_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or not all(isinstance(data.get(k), dict) for k in ("source", "compressed")):
        return "timings are not a JSON object with 'source' and 'compressed' tables"
    return None
