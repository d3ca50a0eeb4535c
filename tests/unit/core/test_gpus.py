"""One GPU per pytest-xdist worker: the assignment, read from the environment only (no GPU needed)."""

from __future__ import annotations

from pathlib import Path

from pytest_compressgate.gpus import ASSIGNED, VISIBLE, physical_device, pin_worker_gpu, visible_gpus

NO_DRIVER = Path("/nonexistent/nvidia/gpus")


def test_workers_get_the_visible_gpus_round_robin() -> None:
    got = {}
    for worker in ("gw0", "gw1", "gw2"):
        env = {VISIBLE: "3,5", "PYTEST_XDIST_WORKER": worker}
        got[worker] = pin_worker_gpu(env, NO_DRIVER)
        assert env[VISIBLE] == got[worker] and env[ASSIGNED] == got[worker]
    assert got == {"gw0": "3", "gw1": "5", "gw2": "3"}


def test_the_driver_lists_the_gpus_when_the_variable_is_unset(tmp_path: Path) -> None:
    for i in range(4):
        (tmp_path / f"0000:0{i}:00.0").mkdir()
    env = {"PYTEST_XDIST_WORKER": "gw2"}
    assert visible_gpus(env, tmp_path) == ["0", "1", "2", "3"]
    assert pin_worker_gpu(env, tmp_path) == "2" and env[VISIBLE] == "2"


def test_nothing_changes_outside_xdist_or_without_gpus() -> None:
    env = {VISIBLE: "0,1"}
    assert pin_worker_gpu(env, NO_DRIVER) is None and env == {VISIBLE: "0,1"}
    env = {"PYTEST_XDIST_WORKER": "gw1"}
    assert pin_worker_gpu(env, NO_DRIVER) is None and VISIBLE not in env
    env = {"PYTEST_XDIST_WORKER": "gw1", VISIBLE: "-1"}  # GPUs hidden on purpose
    assert pin_worker_gpu(env, NO_DRIVER) is None and env[VISIBLE] == "-1"


def test_a_pinned_worker_keeps_its_gpu_and_reports_name_it() -> None:
    env = {VISIBLE: "6,7", "PYTEST_XDIST_WORKER": "gw1"}
    assert pin_worker_gpu(env, NO_DRIVER) == "7"
    assert pin_worker_gpu(env, NO_DRIVER) == "7" and env[VISIBLE] == "7"  # a second call narrows nothing more
    assert physical_device("cuda:0", env) == "cuda:0 (GPU 7)"
    assert physical_device("cpu", env) == "cpu"
    assert physical_device("cuda:0", {}) == "cuda:0"
