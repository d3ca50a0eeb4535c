"""Command-line options and their ini twins: one group, one prefix, validators that name the expected form."""

from __future__ import annotations

import pytest

from ..names import parse_ref, parse_targets


def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("compress-gate", "compression quality gate")
    group.addoption("--compress-gate", action="store_true", default=False,
                    help="build compressed artifacts and run the declared task x target gates. Default: off "
                         "(gate items are collected and skipped).")
    group.addoption("--compress-gate-config", metavar="PATH", default=None,
                    help="gate config file. Default: compressgate.toml, else pyproject.toml [tool.compressgate].")
    group.addoption("--compress-gate-targets", metavar="NAMES", type=parse_targets, default=None,
                    help="only these comma-separated targets. Default: every declared target.")
    group.addoption("--compress-gate-report", metavar="DIR", default=None,
                    help="write compressgate.json, compressgate.md and a plot into DIR. Default: no files "
                         "(ini: compress_gate_report).")
    group.addoption("--compress-gate-rebuild", action="store_true", default=False,
                    help="ignore the cache: rebuild every artifact and re-score every model. Default: off.")
    group.addoption("--compress-gate-early-stop", action="store_true", default=None,
                    help="score in chunks of whole batches and stop once a group-sequential test settles the "
                         "verdict. Default: off (ini: compress_gate_early_stop).")
    group.addoption("--compress-gate-require-hardware", action="store_true", default=None,
                    help="fail, instead of skip, the parts of a target whose hardware this machine lacks. "
                         "Default: off (ini: compress_gate_require_hardware).")
    group.addoption("--compress-gate-baseline", metavar="REF", type=parse_ref, default=None,
                    help="show how each row's drop moved since baseline REF: a name saved with "
                         "--compress-gate-save-baseline, or a compressgate.json report (say, the main branch's). "
                         "Default: none (ini: compress_gate_baseline).")
    group.addoption("--compress-gate-save-baseline", metavar="REF", type=parse_ref, default=None,
                    help="keep this run's results as baseline REF (in the cache dir's baselines/, or at a .json "
                         "path). Default: not kept.")
    parser.addini("compress_gate_baseline", "baseline to compare with (see --compress-gate-baseline)", default=None)
    parser.addini("compress_gate_config", "gate config file (see --compress-gate-config)", default=None)
    parser.addini("compress_gate_report", "report directory (see --compress-gate-report)", default=None)
    parser.addini("compress_gate_early_stop", "early stopping (see --compress-gate-early-stop)", type="bool",
                  default=False)
    parser.addini("compress_gate_require_hardware", "see --compress-gate-require-hardware", type="bool",
                  default=False)
    parser.addini("compress_gate_gpu_per_worker", "under pytest-xdist, give each worker one GPU of those visible "
                  "(worker i gets GPU i mod n through CUDA_VISIBLE_DEVICES). Default: true", type="bool", default=True)


def option_or_ini(config: pytest.Config, name: str):
    """The command line wins; otherwise the ini setting."""
    value = config.getoption(name)
    return value if value is not None else config.getini(name)
