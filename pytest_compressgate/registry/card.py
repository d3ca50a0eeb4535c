"""The Markdown model card: what a reviewer reads before approving an artifact for release."""

from __future__ import annotations

import json
from typing import Any

from ..report.format import MISSING, examples, interval, num, release_status, size
from .model import ArtifactDetails, EvaluationRecord

VERDICT_MARK = {"PASS": "✅ PASS", "FAIL": "❌ FAIL", "UNGATED": "UNGATED (scored, no threshold)",
                "UNEVALUATED": "UNEVALUATED (never scored)"}


def render_card(lineage: list[ArtifactDetails]) -> str:
    """``lineage``: the artifact's registered stages, first stage first, the artifact itself last."""
    details = lineage[-1]
    a = details.artifact
    lines = [f"# Model card: {a.target} — {a.method} (stage {a.stage_index + 1} of {len(a.recipe) or 1})", ""]
    lines += _table(["", ""], [
        ["Artifact key", f"`{a.key}`"], ["Target", a.target], ["Hardware", a.hardware],
        ["Format", a.format or MISSING], ["Verdict", VERDICT_MARK[details.verdict.value]],
        ["Release status", _cell(release_status(details))], ["Source model key", f"`{a.source_key}`"],
        ["Built from", f"`{a.parent_key}`" if a.parent_key else MISSING], ["Registered", a.created_at],
        ["Path", f"`{a.path}`"],
    ])
    lines += ["", "## Recipe", ""]
    stage_keys = {d.artifact.stage_index: d.key for d in lineage}
    lines += _table(["stage", "method", "parameters", "artifact"], [
        [str(i), str(step.get("method", "?")), _cell(_params({k: v for k, v in step.items() if k != "method"})),
         (f"`{stage_keys[i][:12]}`" if i in stage_keys else MISSING) + (" (this card)" if i == a.stage_index else "")]
        for i, step in enumerate(a.recipe)
    ] or [[str(a.stage_index), a.method, _cell(_params(a.params)), f"`{a.key[:12]}` (this card)"]])
    lines += ["", f"Resolved parameters of this stage: {_params(a.params)}"]
    lines += ["", "## Size", ""] + _size(details)
    lines += ["", "## Libraries", ""]
    lines += _table(["library", "version"], [[k, v] for k, v in sorted(a.libraries.items())]) if a.libraries \
        else ["No library versions were recorded."]
    lines += ["", "## Evaluations", "", "The latest evaluation of each task, per recipe stage. The verdict is "
              "derived from these; older runs are listed under *Evaluation history*. An interval bounds the drop "
              "(positive = worse); each bound holds with the stated one-sided confidence.", ""]
    for stage in lineage:
        title = f"Stage {stage.artifact.stage} (`{stage.key[:12]}`)" + (" — this artifact" if stage is details else "")
        lines += [f"### {title}", ""]
        lines += _evaluation_table(stage.latest) if stage.latest else ["Not scored yet.", ""]
    lines += ["## Evaluation history", ""]
    if details.evaluations:
        runs = len({e.run_id for e in details.evaluations})
        lines += [f"{len(details.evaluations)} evaluation(s) of this artifact over {runs} gate run(s), "
                  "oldest first.", ""]
        lines += _evaluation_table(details.evaluations)
    else:
        lines += ["This artifact has not been evaluated: run `pytest --compress-gate` to score it.", ""]
    lines += ["## Approval history", ""]
    if details.approvals:
        lines += _table(["when (UTC)", "decision", "who", "why", "verdict then", "forced"], [
            [d.decided_at, d.decision.value, _cell(d.who), _cell(d.why) or MISSING, d.verdict.value,
             "yes" if d.forced else "no"] for d in details.approvals])
    else:
        lines += [f"No decisions yet: `compressgate registry approve {a.key[:12]} --why \"...\"` records one."]
    return "\n".join(lines) + "\n"


def _size(details: ArtifactDetails) -> list[str]:
    a = details.artifact
    lines = [f"- On disk: {size(a.bytes_on_disk, exact=True)}"]
    perf = next((e.performance for e in reversed(details.evaluations) if e.performance), {})
    timed_on = (perf.get("devices") or {}).get("compressed")
    for key, label in (("size_ratio", "Size ratio vs source"), ("speedup", "Speedup vs source")):
        if isinstance(perf.get(key), (int, float)):
            where = f", timed on {timed_on} beside the source" if key == "speedup" and timed_on else ""
            if key == "speedup" and perf.get("speed_caveat"):
                where += f" ({perf['speed_caveat']})"
            lines.append(f"- {label} (latest evaluation): {perf[key]:.2f}x{where}")
    if perf.get("device"):
        lines.append(f"- Scored on: {perf['device']} (the source on {perf.get('source_device') or 'cpu'})")
    if a.stats:
        lines.append("- Compression stats: " + _params(a.stats))
    return lines


def _evaluation_table(evaluations: list[EvaluationRecord]) -> list[str]:
    rows = []
    for e in evaluations:
        verdict = ("PASS" if e.passed else "FAIL") if e.gated else "ungated"
        bounds = interval(e.interval_low, e.interval_high)
        if e.interval_low is not None and e.confidence:
            bounds += f" ({e.confidence:.0%})"
        rows.append([e.task, e.target, e.metric, examples(e.n, e.examples_used), num(e.source_score),
                     num(e.compressed_score), num(e.drop, "+.4f"), bounds, num(e.allowed_drop),
                     num(e.p_value, ".3g"), verdict, _cell("; ".join(e.failures)) or MISSING,
                     f"`{e.run_id}`", e.recorded_at])
    return _table(["task", "target", "metric", "n", "source", "compressed", "drop", "interval", "allowed", "p",
                   "verdict", "failures", "run", "recorded (UTC)"], rows) + [""]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in sorted(params.items())) or "(defaults)"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")
