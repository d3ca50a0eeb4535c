"""The report's rows, shared by the terminal table and the Markdown summary."""

from __future__ import annotations

from typing import Any

from .baseline import cell
from .format import MISSING, examples, interval, num

COLUMNS = ("task", "target", "stage", "metric", "source", "compressed", "drop", "interval", "allowed",
           "p", "n", "size", "speedup", "latency", "verdict", "vs baseline")


def _baseline_ref(comparisons: list[dict[str, Any]]) -> str | None:
    return next((c["baseline"]["ref"] for c in comparisons if c.get("baseline")), None)


def columns(comparisons: list[dict[str, Any]]) -> list[str]:
    """The columns worth showing: ``stage`` only for stacked recipes, ``vs baseline`` only against one."""
    staged = any(c.get("stage") for c in comparisons)
    ref = _baseline_ref(comparisons)
    return [c for c in COLUMNS if (c != "stage" or staged) and (c != "vs baseline" or ref)]


def baseline_header(comparisons: list[dict[str, Any]]) -> str:
    ref = _baseline_ref(comparisons)
    return f"Δdrop vs {ref}" if ref else ""


def row(c: dict[str, Any]) -> dict[str, str]:
    """Display strings for one comparison (as produced by ``Comparison.to_json``)."""
    bounds = c.get("interval") or {}
    perf = c.get("performance") or {}
    if c.get("stage"):
        verdict = "stage" if c["passed"] else "FAIL"
    elif c.get("outcome") == "INCONCLUSIVE" and (c["passed"] or c.get("failures") == [c.get("reason")]):
        verdict = "INCONCLUSIVE (passes)" if c["passed"] else "INCONCLUSIVE (fails)"  # the policy's effect
    else:
        verdict = "PASS" if c["passed"] else "FAIL"
    return {
        "task": c["task"],
        "target": c["target"],
        "stage": c.get("stage") or "final",
        "metric": c["metric"],
        "source": num(c["source_score"]),
        "compressed": num(c["compressed_score"]),
        "drop": num(c["drop"], "+.4f"),
        "interval": interval(bounds.get("low"), bounds.get("high")),
        "allowed": num(c["allowed_drop"]),
        "p": num(c["p_value_holm"], ".3g") + " (Holm)" if c.get("p_value_holm") is not None
        else num(c.get("p_value"), ".3g"),
        "n": examples(c["n"], c.get("examples_used")),
        "size": f"{perf['size_ratio']:.2f}x" if perf.get("size_ratio") else MISSING,
        "speedup": _speedup(perf),
        "latency": f"{perf['compressed']['latency_ms_median']:.1f}ms" if perf.get("compressed") else MISSING,
        "verdict": verdict,
        "vs baseline": cell(c),
    }


def _speedup(perf: dict[str, Any]) -> str:
    """The speedup with what a reader must know: unreliable timings, or other hardware than the target's."""
    if not perf.get("speedup"):
        return MISSING
    labels = [word for word, key in (("unreliable", "unreliable"), ("off-target", "off_target")) if perf.get(key)]
    return f"{perf['speedup']:.2f}x" + (f" ({', '.join(labels)})" if labels else "")


def adjust_holm(comparisons: list[dict[str, Any]]) -> None:
    """Add ``p_value_holm``: McNemar p-values Holm-adjusted across the tasks of each target."""
    from ..stats import holm

    by_target: dict[str, list[dict[str, Any]]] = {}
    for c in comparisons:
        if not c.get("stage") and c.get("p_value") is not None:
            by_target.setdefault(c["target"], []).append(c)
    for group in by_target.values():
        for c, adjusted in zip(group, holm([c["p_value"] for c in group])):
            c["p_value_holm"] = adjusted


def notes(comparisons: list[dict[str, Any]]) -> list[str]:
    """Every row's warnings (small n, speed gates not checked off-target, ...), once each, named by row."""
    seen: dict[str, None] = {}
    for c in comparisons:
        item = f"{c['task']}[{c['target']}]" + (f"@{c['stage']}" if c.get("stage") else "")
        for warning in c.get("warnings") or []:
            seen.setdefault(f"{item}: {warning}", None)
    return list(seen)


def failures(comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in comparisons if not c["passed"]]
