"""Check every error rate the gate promises, by seeded simulation through the gate's own functions.

One table, one row per promise (or comparison), covering:

* binary accuracy at n = 1,000, 3% discordant, allowed drop 0.008 (simulated and exact): confident-pass
  passes at most 5% of boundary cases, confident-fail fails at most 5% of them and at least 85% at 3x;
* ties: ``verdict.compare`` in ``estimate`` mode passes every table whose drop equals the allowed drop,
  and n = 1 in a confident mode gives a verdict;
* corpus metrics through the gate's bootstrap hull (``stats.studentized``): macro-F1 at n = 200 and 1,000, perplexity
  at n = 50 and 200 with light and heavy-tailed lengths; the bootstrap-t and percentile halves alone beside it;
* early stopping (``early_stop.chunk_plan`` + ``stats.GroupSequentialDesign`` + the score interval) at
  N = 1,000 and 5,000: the whole procedure's false passes and false failures at the boundary, the
  examples used at 3x the allowed drop, wrong failures at no drop, and the drop inside the interval;
* ``holm = true`` over six tasks at their boundaries: family-wise false failures and false passes.

The true drop of a corpus metric is its population value (macro-F1 of the joint distribution, perplexity
from expected NLL and tokens); "boundary" means the allowed drop is set equal to it. Exit code 1 when any
promise is violated beyond the Monte Carlo allowance (5.5% for a 5% promise).

Run: python benchmarks/decision_simulation.py [--quick] [--runs 10000] [--boot-runs 4000] [--seed 20240601]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_compressgate.config import Thresholds  # noqa: E402
from pytest_compressgate.early_stop import chunk_plan  # noqa: E402
from pytest_compressgate.stats import (DecisionMode, GroupSequentialDesign, binary_drop_interval,  # noqa: E402
                                       decide, holm_outcomes, score_drop_bounds, score_margin_p)
from pytest_compressgate.stats.studentized import assemble, resample_se  # noqa: E402

N, DISCORDANT, ALLOWED, CONFIDENCE = 1000, 0.03, 0.008, 0.95
RESAMPLES = 2000  # as verdict.BOOTSTRAP_RESAMPLES
ROWS: list[tuple[str, str, str, float | str, str, bool | None]] = []


def row(check: str, setting: str, method: str, value: float | str, promise: str, ok: bool | None) -> None:
    ROWS.append((check, setting, method, value, promise, ok))


# -- binary accuracy at fixed n --------------------------------------------------------------------


def counts(rng: np.random.Generator, n: int, disc: float, drop: float, size: int | tuple) -> np.ndarray:
    pb, pc = (disc + drop) / 2, (disc - drop) / 2
    return rng.multinomial(n, [pb, pc, 1 - pb - pc], size=size)


def exact_rate(drop: float, side: str) -> float:
    """Rate summed over every (b, c) table with its trinomial probability."""
    pb, pc = (DISCORDANT + drop) / 2, (DISCORDANT - drop) / 2
    top = int(N * DISCORDANT + 12 * np.sqrt(N * DISCORDANT) + 20)
    b, c = (a.ravel() for a in np.meshgrid(np.arange(top), np.arange(top), indexing="ij"))
    b, c = b[b + c <= top], c[b + c <= top]
    weight = sps.multinomial.pmf(np.stack([b, c, N - b - c], axis=1), N, [pb, pc, 1 - pb - pc])
    low, high = score_drop_bounds(b, c, N, confidence=CONFIDENCE)
    return float(np.sum(weight * (high <= ALLOWED if side == "pass" else low > ALLOWED)))


def table_verdicts(b: np.ndarray, c: np.ndarray, mode: DecisionMode) -> np.ndarray:
    """Each distinct table once through binary_drop_interval + decide on real per-example arrays."""
    seen: dict[tuple[int, int], str] = {}
    for kb, kc in set(zip(b.tolist(), c.tolist())):
        source, compressed = np.zeros(N, bool), np.zeros(N, bool)
        source[:kb] = True
        compressed[kb:kb + kc] = True
        source[kb + kc:kb + kc + N // 2] = compressed[kb + kc:kb + kc + N // 2] = True
        interval = binary_drop_interval(source, compressed, confidence=CONFIDENCE)
        seen[(kb, kc)] = decide(mode=mode, drop=(kb - kc) / N, interval=interval, allowed_drop=ALLOWED).outcome.value
    return np.array([seen[k] for k in zip(b.tolist(), c.tolist())])


def binary_rows(rng: np.random.Generator, runs: int) -> None:
    setting = f"n={N}, {DISCORDANT:.0%} disc., allowed {ALLOWED}"
    at = counts(rng, N, DISCORDANT, ALLOWED, runs)
    three = counts(rng, N, DISCORDANT, 3 * ALLOWED, runs)
    rate = float(np.mean(table_verdicts(at[:, 0], at[:, 1], DecisionMode.CONFIDENT_PASS) == "PASS"))
    exact = exact_rate(ALLOWED, "pass")
    row("false pass at boundary", setting, "accuracy, confident-pass", f"{rate:.2%} (exact {exact:.2%})", "<= 5%",
        rate <= 0.055 and exact <= 0.05)
    rate = float(np.mean(table_verdicts(at[:, 0], at[:, 1], DecisionMode.CONFIDENT_FAIL) == "FAIL"))
    exact = exact_rate(ALLOWED, "fail")
    row("false fail at boundary", setting, "accuracy, confident-fail", f"{rate:.2%} (exact {exact:.2%})", "<= 5%",
        rate <= 0.055 and exact <= 0.05)
    rate = float(np.mean(table_verdicts(three[:, 0], three[:, 1], DecisionMode.CONFIDENT_FAIL) == "FAIL"))
    exact = exact_rate(3 * ALLOWED, "fail")
    row("fails at 3x allowed", setting, "accuracy, confident-fail", f"{rate:.2%} (exact {exact:.2%})", ">= 85%",
        rate >= 0.85 and exact >= 0.85)


# -- ties and n = 1, through verdict.compare -------------------------------------------------------


def tie_rows() -> None:
    from pytest_compressgate.tasks import TASK_TYPES, Examples, Predictions
    from pytest_compressgate.tasks.metrics import METRICS
    from pytest_compressgate.verdict import compare

    cls, accuracy = TASK_TYPES.get("text-classification"), METRICS.get("accuracy")

    def run(n: int, src: int, cmp_: int, **thresholds):
        refs = ["a"] * n
        return compare(task_name="t", target="x", task_type=cls, metric=accuracy, examples=Examples(["t"] * n, refs),
                       source=Predictions(["a" if i < src else "b" for i in range(n)]),
                       compressed=Predictions(["a" if i < cmp_ else "b" for i in range(n)]),
                       thresholds=Thresholds(**thresholds))

    for n, budgets in ((100, (0.01, 0.02, 0.03, 0.05, 0.07)), (1000, (0.001, 0.003, 0.007, 0.008, 0.011, 0.02))):
        tables = [(src, src - round(a * n), a) for a in budgets for src in range(n // 2, n + 1, max(1, n // 50))]
        passed = sum(run(n, s, c, max_drop=a).passed for s, c, a in tables)
        float_fails = sum(s / n - c / n > a for s, c, a in tables)  # what comparing float scores did
        row("tied tables pass", f"n={n}, {len(tables)} tables", "accuracy, estimate",
            f"{passed}/{len(tables)} (float compare fails {float_fails})", "all", passed == len(tables))
    outcomes = {m.value: run(1, 1, 1, max_drop=0.01, decision=m).outcome
                for m in (DecisionMode.CONFIDENT_PASS, DecisionMode.CONFIDENT_FAIL)}
    row("n=1 gets a verdict", "n=1", "accuracy, confident modes", ", ".join(outcomes.values()), "no error", True)


# -- corpus metrics: macro-F1 (cell-level resampling) and perplexity ---------------------------------

K, PRIOR = 3, np.array([0.5, 0.3, 0.2])
CELLS = np.array([(y, s, c) for y in range(K) for s in range(K) for c in range(K)])


def f1_cells(cell_counts: np.ndarray, model: int) -> np.ndarray:
    """Macro-F1 over the classes present in the references, from counts of (truth, source, compressed)."""
    pred = CELLS[:, model]
    total = 0.0
    present = 0
    for k in range(K):
        tp = cell_counts @ ((CELLS[:, 0] == k) & (pred == k)).astype(float)
        denom = cell_counts @ ((pred == k).astype(float) + (CELLS[:, 0] == k))
        actual = cell_counts @ (CELLS[:, 0] == k).astype(float)
        total = total + np.where(actual > 0, np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0), 0)
        present = present + (actual > 0)
    return total / np.maximum(present, 1)


def macro_f1_cells(flip: float) -> tuple[np.ndarray, float]:
    """Cell probabilities and the population drop: source 85% right per class, the compressed model
    replacing the source's label by another with probability ``flip``."""
    source = np.full((K, K), 0.075) + np.eye(K) * 0.775
    change = (1 - flip) * np.eye(K) + flip * (1 - np.eye(K)) / (K - 1)
    probs = (PRIOR[:, None, None] * source[:, :, None] * change[None, :, :]).reshape(-1)
    drop = float(f1_cells(probs, 1) - f1_cells(probs, 2))
    return probs, drop


METHODS = ("gate (hull)", "bootstrap-t alone", "percentile alone")


def tally(passes: dict[str, int], boot, allowed: float) -> None:
    """Confident-pass verdicts of the gate's interval and of each half alone."""
    passes[METHODS[0]] += boot.interval(CONFIDENCE).high <= allowed
    passes[METHODS[1]] += boot.t_bounds(CONFIDENCE)[1] <= allowed
    passes[METHODS[2]] += boot.percentile_bounds(CONFIDENCE)[1] <= allowed


def boot_rows(setting: str, metric: str, passes: dict[str, int], runs: int) -> None:
    for method, count in passes.items():
        rate, gate = count / runs, method == METHODS[0]
        row("false pass at boundary", setting, f"{metric}, {method}", f"{rate:.2%}",
            "<= 5%" if gate else "(comparison)", rate <= 0.055 if gate else None)


def macro_f1_rows(rng: np.random.Generator, runs: int) -> None:
    for n, flip in ((200, 0.02), (200, 0.05), (1000, 0.01), (1000, 0.03)):
        probs, allowed = macro_f1_cells(flip)
        passes = dict.fromkeys(METHODS, 0)
        for start in range(0, runs, 50):
            observed = rng.multinomial(n, probs, size=min(50, runs - start)).astype(float)
            for obs in observed:
                drop = float(f1_cells(obs, 1) - f1_cells(obs, 2))
                leave = obs[None, :] - np.eye(obs.size)
                jack = f1_cells(leave, 1) - f1_cells(leave, 2)
                mean_jack = float(obs @ jack) / n
                influence = np.where(obs > 0, (n - 1) * (mean_jack - jack), 0.0)
                star = rng.multinomial(n, obs / n, size=RESAMPLES).astype(float)
                resampled = f1_cells(star, 1) - f1_cells(star, 2)
                boot = assemble(drop, influence, resampled, resample_se(star, influence, n=n), multiplicity=obs)
                tally(passes, boot, allowed)
        boot_rows(f"n={n}, {flip:.0%} flips, allowed {allowed:.4f}", "macro-F1", passes, runs)


def perplexity_sample(rng: np.random.Generator, n: int, heavy: bool, shift: float) -> np.ndarray:
    """Per-example (source NLL, compressed NLL, tokens); per-token difficulty and shift independent of length."""
    if heavy:
        tokens = np.minimum(np.ceil(30 * (1 + rng.pareto(1.5, n))), 20_000)
        noise = rng.standard_t(3, n) / np.sqrt(3)
    else:
        tokens = np.ceil(rng.lognormal(np.log(200), 0.5, n))
        noise = rng.standard_normal(n)
    difficulty = rng.normal(3.0, 0.5, n)
    change = shift + 0.03 * noise + 0.5 * rng.standard_normal(n) / np.sqrt(tokens)
    return np.stack([tokens * difficulty, tokens * (difficulty + change), tokens], axis=1)


def ppl_drop(sums: np.ndarray) -> np.ndarray:
    return np.exp(sums[..., 1] / sums[..., 2]) - np.exp(sums[..., 0] / sums[..., 2])


def perplexity_rows(rng: np.random.Generator, runs: int) -> None:
    allowed = 0.2
    shift = float(np.log1p(allowed / np.exp(3.0)))  # exp(3 + shift) - exp(3) = 0.2: the population drop
    for n, heavy in ((50, False), (200, False), (50, True), (200, True)):
        passes = dict.fromkeys(METHODS, 0)
        for _ in range(runs):
            data = perplexity_sample(rng, n, heavy, shift)
            total = data.sum(axis=0)
            drop = float(ppl_drop(total))
            jack = ppl_drop(total[None, :] - data)
            influence = (n - 1) * (jack.mean() - jack)
            idx = rng.integers(0, n, size=(RESAMPLES, n)) + n * np.arange(RESAMPLES)[:, None]
            star = np.bincount(idx.ravel(), minlength=RESAMPLES * n).reshape(RESAMPLES, n).astype(float)
            resampled = ppl_drop(star @ data)
            boot = assemble(drop, influence, resampled, resample_se(star, influence))
            tally(passes, boot, allowed)
        boot_rows(f"n={n}, {'heavy-tailed' if heavy else 'light'} lengths, allowed 0.2 ppl", "perplexity", passes, runs)


# -- early stopping ------------------------------------------------------------------------------------


def early_stop(rng: np.random.Generator, n: int, drop: float, runs: int) -> dict[str, np.ndarray]:
    """The gate's whole early-stop procedure on binary data, vectorised over runs: outcome and n used."""
    sizes = [len(c) for c in chunk_plan(n, seed=0, batch_size=32)]
    looks = np.cumsum(sizes)
    design = GroupSequentialDesign.build(looks, confidence=CONFIDENCE)
    per_chunk = np.stack([counts(rng, size, DISCORDANT, drop, runs) for size in sizes], axis=1).cumsum(axis=1)
    outcome = np.full(runs, "INCONCLUSIVE", dtype=object)
    used = np.full(runs, n)
    inside = np.ones(runs, bool)
    open_ = np.ones(runs, bool)
    for k, (seen, level) in enumerate(zip(looks, design.levels)):
        b, c = per_chunk[open_, k, 0], per_chunk[open_, k, 1]
        low, high = score_drop_bounds(b, c, int(seen), confidence=level)
        stop = (high <= ALLOWED) | (low > ALLOWED)
        where = np.flatnonzero(open_)[stop]
        outcome[where] = np.where(high[stop] <= ALLOWED, "PASS", "FAIL")
        used[where] = seen
        measured = (b - c) / seen
        inside[np.flatnonzero(open_)] &= (low <= measured) & (measured <= high)
        open_[where] = False
    return {"outcome": outcome, "used": used, "inside": inside}


def early_stop_rows(rng: np.random.Generator, runs: int) -> None:
    for n in (1000, 5000):
        setting = f"N={n}, {DISCORDANT:.0%} disc., allowed {ALLOWED}"
        at = early_stop(rng, n, ALLOWED, runs)
        rate = float(np.mean(at["outcome"] == "PASS"))
        row("early stop: false pass", setting, "group-sequential, whole run", f"{rate:.2%}", "<= 5%", rate <= 0.055)
        rate = float(np.mean(at["outcome"] == "FAIL"))
        row("early stop: false fail", setting, "group-sequential, whole run", f"{rate:.2%}", "<= 5%", rate <= 0.055)
        three = early_stop(rng, n, 3 * ALLOWED, runs)
        median = float(np.median(three["used"])) / n
        half = float(np.mean(three["used"] <= n / 2))
        fails = float(np.mean(three["outcome"] == "FAIL"))
        row("early stop at 3x allowed", setting, "median examples used",
            f"{median:.1%} (by half: {half:.0%} of runs; fails {fails:.1%})",
            "<= 50%" if n == 1000 else "(info)", median <= 0.5 if n == 1000 else None)
        zero = early_stop(rng, n, 0.0, runs)
        fixed_low, _ = score_drop_bounds(*counts(rng, n, DISCORDANT, 0.0, runs)[:, :2].T, n, confidence=CONFIDENCE)
        row("early stop at no drop", setting, "wrong fails (fixed n beside)",
            f"{np.mean(zero['outcome'] == 'FAIL'):.2%} (fixed {np.mean(fixed_low > ALLOWED):.2%}); median used "
            f"{np.median(zero['used']) / n:.0%}", "(info)", None)
        inside = bool(at["inside"].all() and three["inside"].all() and zero["inside"].all())
        row("early stop: drop in interval", setting, "every look of every run", "yes" if inside else "NO", "always",
            inside)


# -- Holm over six tasks ---------------------------------------------------------------------------------

SIX = ((1000, 0.03, 0.008), (500, 0.05, 0.015), (2000, 0.02, 0.005), (1000, 0.08, 0.012), (800, 0.04, 0.01),
       (1500, 0.03, 0.007))


def holm_rows(rng: np.random.Generator, runs: int) -> None:
    pass_p, fail_p = [], []
    for n, disc, allowed in SIX:  # every task at its boundary: true drop = allowed drop
        table = counts(rng, n, disc, allowed, runs)
        pass_p.append(score_margin_p(table[:, 0], table[:, 1], n, allowed, side="pass"))
        fail_p.append(score_margin_p(table[:, 0], table[:, 1], n, allowed, side="fail"))
    pass_p, fail_p = np.array(pass_p).T, np.array(fail_p).T
    alpha = 1 - CONFIDENCE
    outcomes = [holm_outcomes(p, f, alpha=alpha) for p, f in zip(pass_p, fail_p)]
    any_fail = float(np.mean([any(o.value == "FAIL" for o in run) for run in outcomes]))
    any_pass = float(np.mean([any(o.value == "PASS" for o in run) for run in outcomes]))
    setting = "6 binary tasks at their boundaries"
    row("family-wise false fail", setting, "holm = true, confident-fail", f"{any_fail:.2%}", "<= 5%", any_fail <= 0.055)
    row("family-wise false pass", setting, "holm = true, confident-pass", f"{any_pass:.2%}", "<= 5%", any_pass <= 0.055)
    row("family-wise false fail", setting, "holm = false (comparison)", f"{np.mean((fail_p <= alpha).any(1)):.2%}",
        "(comparison)", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="simulated runs per count-based scenario")
    parser.add_argument("--boot-runs", type=int, default=4_000, help="simulated runs per bootstrap scenario")
    parser.add_argument("--quick", action="store_true", help="1,000 / 300 runs: a smoke test, not figures")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    runs, boot_runs = (1000, 300) if args.quick else (args.runs, args.boot_runs)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    print(f"confidence {CONFIDENCE} one-sided; {runs:,} runs per count scenario, {boot_runs:,} per bootstrap "
          f"scenario ({RESAMPLES} resamples each); seed {args.seed}")
    binary_rows(rng, runs)
    tie_rows()
    macro_f1_rows(rng, boot_runs)
    perplexity_rows(rng, boot_runs)
    early_stop_rows(rng, runs)
    holm_rows(rng, runs)
    widths = [max(len(str(r[i])) for r in ROWS) for i in range(5)]
    header = ("check", "setting", "method", "measured", "promise")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  status")
    print("-" * (sum(widths) + 2 * 5 + 8))
    violated = False
    for *cells, ok in ROWS:
        violated |= ok is False
        status = "info" if ok is None else ("OK" if ok else "VIOLATED")
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + f"  {status}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 1 if violated else 0


if __name__ == "__main__":
    sys.exit(main())
