"""The report's rows, shared by the terminal table and the Markdown summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .baseline import cell
from .format import MISSING, examples, interval, num

if TYPE_CHECKING:
    from ..result import GateResult

COLUMNS = ("task", "target", "stage", "metric", "source", "compressed", "drop", "interval", "allowed",
           "p", "n", "size", "speedup", "latency", "verdict", "vs baseline")


def _baseline_ref(results: Sequence[GateResult]) -> str | None:
    return next((r.baseline["ref"] for r in results if r.baseline), None)


def columns(results: Sequence[GateResult]) -> list[str]:
    """The columns worth showing: ``stage`` only for stacked recipes, ``vs baseline`` only against one."""
    staged = any(r.stage for r in results)
    ref = _baseline_ref(results)
    return [c for c in COLUMNS if (c != "stage" or staged) and (c != "vs baseline" or ref)]


def baseline_header(results: Sequence[GateResult]) -> str:
    ref = _baseline_ref(results)
    return f"Δdrop vs {ref}" if ref else ""


def verdict(r: GateResult) -> str:
    """What the row says: PASS or FAIL; ``stage`` for an intermediate stage that passed; INCONCLUSIVE with
    what its policy does to the build."""
    if r.stage:
        return "stage" if r.passed else "FAIL"
    if r.outcome == "INCONCLUSIVE" and (r.passed or r.failures == [r.reason]):
        return "INCONCLUSIVE (passes)" if r.passed else "INCONCLUSIVE (fails)"
    return "PASS" if r.passed else "FAIL"


def row(r: GateResult) -> dict[str, str]:
    """Display strings for one result."""
    perf = r.performance or {}
    return {
        "task": r.task,
        "target": r.target,
        "stage": r.stage or "final",
        "metric": r.metric,
        "source": num(r.source_score),
        "compressed": num(r.compressed_score),
        "drop": num(r.drop, "+.4f"),
        "interval": interval(r.interval.low, r.interval.high) if r.interval else MISSING,
        "allowed": num(r.allowed_drop),
        "p": num(r.p_value_holm, ".3g") + " (Holm)" if r.p_value_holm is not None else num(r.p_value, ".3g"),
        "n": examples(r.n, r.examples_used),
        "size": f"{perf['size_ratio']:.2f}x" if perf.get("size_ratio") else MISSING,
        "speedup": _speedup(perf),
        "latency": _latency(perf),
        "verdict": verdict(r),
        "vs baseline": cell(r),
    }


def _speedup(perf: dict[str, Any]) -> str:
    """The speedup with what a reader must know: a decoding speedup, unreliable timings, or other hardware
    than the target's."""
    if not perf.get("speedup"):
        return MISSING
    labels = [word for word, key in (("decode", "decode"), ("unreliable", "unreliable"), ("off-target", "off_target"))
              if perf.get(key)]
    return f"{perf['speedup']:.2f}x" + (f" ({', '.join(labels)})" if labels else "")


def _latency(perf: dict[str, Any]) -> str:
    """The compressed model's median batch-1 latency: of one forward, or of all the decoding steps timed."""
    if not perf.get("compressed"):
        return MISSING
    decode = perf.get("decode")
    return f"{perf['compressed']['latency_ms_median']:.1f}ms" + (f"/{decode['new_tokens']}tok" if decode else "")


def decode_note(perf: dict[str, Any]) -> str | None:
    """Decoding speed in tokens per second at each batch timed, source -> compressed, where decoding was timed."""
    decode = perf.get("decode")
    if not decode:
        return None
    rates, bounds = decode["tokens_per_s"], decode.get("bound_tokens_per_s")  # none in timings cached before

    def at(b: int) -> str:
        said = f"{_rate(rates['source'][str(b)])} -> {_rate(rates['compressed'][str(b)])} tokens/s at batch {b}"
        if bounds:
            said += f" (bounds {_rate(bounds['source'][str(b)])} -> {_rate(bounds['compressed'][str(b)])})"
        return said

    paths = decode["paths"]
    how = paths["source"] if paths["source"] == paths["compressed"] else \
        f"source {paths['source']}, compressed {paths['compressed']}"
    bound = (f"; bound = batch x {decode['copy_bandwidth'] / 1e9:.0f} GB/s (a copy, measured) / the weight bytes a "
             f"step reads" if bounds else "")
    return (f"decoding speedup: {decode['new_tokens']} greedy tokens after a {decode['prompt_tokens']}-token prompt, "
            f"{', '.join(at(b) for b in decode['batch_sizes'])} ({how}){bound}")


def _rate(tokens_per_s: float) -> str:
    return f"{tokens_per_s:.0f}" if tokens_per_s >= 100 else f"{tokens_per_s:.1f}"


def adjust_holm(results: Sequence[GateResult]) -> None:
    """Set ``p_value_holm``: McNemar p-values Holm-adjusted across the tasks of each target."""
    from ..stats import holm

    by_target: dict[str, list[GateResult]] = {}
    for r in results:
        if not r.stage and r.p_value is not None:
            by_target.setdefault(r.target, []).append(r)
    for group in by_target.values():
        for r, adjusted in zip(group, holm([r.p_value for r in group if r.p_value is not None])):
            r.p_value_holm = adjusted


def kernel_note(perf: dict[str, Any]) -> str | None:
    """The matrix kernels the artifact ran (or loaded with) at its build, and where, as its manifest names them."""
    stats = perf.get("stats") or {}
    if not stats.get("kernel"):
        return None
    where = f" on {stats['kernel_device']}" if stats.get("kernel_device") else ""
    return f"kernels{where} (at build): {stats['kernel']}"


def notes(results: Sequence[GateResult]) -> list[str]:
    """Every row's warnings (small n, speed gates not checked off-target, ...), once each, named by row, and
    for each target (whatever the task) the kernels its artifact ran and its decoding speed where decoding
    was timed."""
    seen: dict[str, None] = {}
    for r in results:
        for warning in r.warnings:
            seen.setdefault(f"{r.item_id}: {warning}", None)
        for note in (kernel_note(r.performance or {}) if not r.stage else None, decode_note(r.performance or {})):
            if note:
                seen.setdefault(f"{r.target}: {note}", None)
    return list(seen)


def failures(results: Sequence[GateResult]) -> list[GateResult]:
    return [r for r in results if not r.passed]
