"""Check the gate's promised error rates by seeded simulation (and exact enumeration) on paired binary data.

Setting: n = 1,000 paired right/wrong examples, 3% of them discordant (the two models disagree). Every
example independently is "source right, compressed wrong" with probability (0.03 + drop) / 2 and the
reverse with probability (0.03 - drop) / 2, so the true accuracy drop is ``drop``.

Allowed drop 0.008, not 0.005. With 3% discordance the per-example difference has standard deviation
about sqrt(0.03) = 0.173, so the drop is measured with standard error 0.0055 at n = 1,000. A one-sided 5%
test against a margin reaches 85% power only when the true drop exceeds the margin by about
(1.645 + 1.036) x 0.0055 = 0.0147; "three times the allowed drop" is 2 x allowed above it, so the allowed
drop must be at least ~0.0074, and three times it cannot exceed the discordant rate (0.03), so at most
0.01. 0.008 sits in that window. At 0.005 no valid test can have 85% power here (any test with 5% false
failures at 0.005 fails only ~55-60% of runs at 0.015); the info row shows it. This is a property of
n and the discordance, not of the method, and is what ``small_n_warning`` tells users.

Promises (confidence 0.95, one-sided):
  A. true drop = allowed:    confident-pass passes <= 5% of runs; confident-fail fails <= 5% of runs.
  B. true drop = 3x allowed: confident-fail fails >= 85% of runs.
The simulated rate (seeded) and the exact rate (summing the trinomial probabilities of every table) must
both keep each promise; the exit code is 1 otherwise. For comparison, the percentile bootstrap's pass rate
in A is printed (it is liberal, which is why binary metrics use the discordant-pair interval).

Run: python benchmarks/decision_simulation.py  [--runs 10000] [--seed 20240601]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_compressgate.stats import (  # noqa: E402
    DecisionMode,
    binary_drop_interval,
    decide,
    score_drop_bounds,
)

N = 1000
DISCORDANT = 0.03
ALLOWED = 0.008
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000


def simulate_counts(rng: np.random.Generator, drop: float, runs: int) -> tuple[np.ndarray, np.ndarray]:
    """Discordant counts (b, c) of ``runs`` independent test sets."""
    pb, pc = (DISCORDANT + drop) / 2, (DISCORDANT - drop) / 2
    counts = rng.multinomial(N, [pb, pc, 1 - pb - pc], size=runs)
    return counts[:, 0], counts[:, 1]


def gate_rate(b: np.ndarray, c: np.ndarray, mode: DecisionMode, allowed: float) -> float:
    """Fraction of runs the public API passes (confident-pass) or fails (otherwise).

    Each distinct (b, c) table goes once through binary_drop_interval + decide on real per-example arrays.
    """
    verdicts: dict[tuple[int, int], bool] = {}
    for key in set(zip(b.tolist(), c.tolist())):
        kb, kc = key
        source = np.zeros(N, bool)
        compressed = np.zeros(N, bool)
        source[:kb] = True  # source right, compressed wrong
        compressed[kb : kb + kc] = True  # the reverse
        source[kb + kc : kb + kc + N // 2] = compressed[kb + kc : kb + kc + N // 2] = True  # both right
        interval = binary_drop_interval(source, compressed, confidence=CONFIDENCE)
        verdicts[key] = decide(mode=mode, drop=(kb - kc) / N, interval=interval, allowed_drop=allowed).passed
    passed = np.array([verdicts[k] for k in zip(b.tolist(), c.tolist())])
    return float(passed.mean() if mode is DecisionMode.CONFIDENT_PASS else 1 - passed.mean())


def exact_rate(drop: float, mode: DecisionMode, allowed: float) -> float:
    """The same rate computed exactly, summing the trinomial probability of every (b, c) table."""
    pb, pc = (DISCORDANT + drop) / 2, (DISCORDANT - drop) / 2
    top = int(N * DISCORDANT + 12 * np.sqrt(N * DISCORDANT) + 20)
    b, c = (a.ravel() for a in np.meshgrid(np.arange(top), np.arange(top), indexing="ij"))
    keep = b + c <= top
    b, c = b[keep], c[keep]
    weight = sps.multinomial.pmf(np.stack([b, c, N - b - c], axis=1), N, [pb, pc, 1 - pb - pc])
    low, high = score_drop_bounds(b, c, N, confidence=CONFIDENCE)
    hit = high <= allowed if mode is DecisionMode.CONFIDENT_PASS else low > allowed
    return float(np.sum(weight * hit))


def bootstrap_pass_rate(rng: np.random.Generator, b: np.ndarray, c: np.ndarray, allowed: float) -> float:
    """Percentile-bootstrap confident-pass rate, vectorised by resampling the (b, c, rest) counts.

    Resampling n examples with replacement and recounting is exactly a multinomial draw with the observed
    proportions, so this equals the index bootstrap of ``paired_bootstrap_interval`` for accuracy.
    """
    passes = 0
    for start in range(0, b.size, 500):
        bb, cc = b[start : start + 500, None], c[start : start + 500, None]
        shape = (bb.shape[0], BOOTSTRAP_RESAMPLES)
        b_star = rng.binomial(N, bb / N, size=shape)
        rest = N - b_star
        c_prob = np.where(N - bb > 0, cc / np.maximum(N - bb, 1), 0.0)
        c_star = rng.binomial(rest, c_prob, size=shape)
        high = np.quantile((b_star - c_star) / N, CONFIDENCE, axis=1)
        passes += int(np.count_nonzero(high <= allowed))
    return passes / b.size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="simulated test sets per scenario")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()

    print(f"n={N:,} paired binary examples, {DISCORDANT:.0%} discordant, allowed drop {ALLOWED}, "
          f"confidence {CONFIDENCE} (one-sided), {args.runs:,} runs per scenario, seed {args.seed}")
    rows = []  # scenario, mode, measured, simulated, exact, promise text, check or None
    b_a, c_a = simulate_counts(rng, ALLOWED, args.runs)
    b_b, c_b = simulate_counts(rng, 3 * ALLOWED, args.runs)
    for scenario, drop, (b, c), mode, what, promise, ok in [
        ("A drop=allowed", ALLOWED, (b_a, c_a), DecisionMode.CONFIDENT_PASS, "pass", "<= 5%", lambda r: r <= 0.05),
        ("A drop=allowed", ALLOWED, (b_a, c_a), DecisionMode.CONFIDENT_FAIL, "fail", "<= 5%", lambda r: r <= 0.05),
        ("B drop=3x", 3 * ALLOWED, (b_b, c_b), DecisionMode.CONFIDENT_FAIL, "fail", ">= 85%", lambda r: r >= 0.85),
    ]:
        simulated = gate_rate(b, c, mode, ALLOWED)
        exact = exact_rate(drop, mode, ALLOWED)
        rows.append((scenario, mode.value, what, simulated, exact, promise, ok(simulated) and ok(exact)))

    boot = bootstrap_pass_rate(rng, b_a, c_a, ALLOWED)
    rows.append(("A drop=allowed", "percentile bootstrap", "pass", boot, None, "(comparison)", None))
    estimate = float(np.mean((b_a - c_a) / N <= ALLOWED))
    rows.append(("A drop=allowed", "estimate", "pass", estimate, None, "(comparison)", None))
    small = 0.005
    b_s, c_s = simulate_counts(rng, 3 * small, args.runs)
    rows.append(("B' allowed=0.005", "confident-fail", "fail", gate_rate(b_s, c_s, DecisionMode.CONFIDENT_FAIL, small),
                 exact_rate(3 * small, DecisionMode.CONFIDENT_FAIL, small), "(info)", None))

    header = f"{'scenario':<17} {'mode':<21} {'rate':<5} {'simulated':>9} {'exact':>7}  {'promise':<13} status"
    print(header)
    print("-" * len(header))
    violated = False
    for scenario, mode, what, simulated, exact, promise, ok in rows:
        exact_text = "-" if exact is None else f"{exact:.2%}"
        status = "info" if ok is None else ("OK" if ok else "VIOLATED")
        violated |= ok is False
        print(f"{scenario:<17} {mode:<21} {what:<5} {simulated:>9.2%} {exact_text:>7}  {promise:<13} {status}")
    print(f"({time.perf_counter() - started:.1f} s)")
    return 1 if violated else 0


if __name__ == "__main__":
    sys.exit(main())
