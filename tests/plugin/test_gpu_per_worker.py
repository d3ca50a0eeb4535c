"""Under pytest-xdist each worker is narrowed to one GPU before any test (and so any CUDA use) runs."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("xdist")

# Each worker writes what it sees into the project directory (the test's working directory).
RECORD = """
import json, os
def test_record():
    with open("gpu-" + os.environ["PYTEST_XDIST_WORKER"] + ".json", "w") as out:
        out.write(json.dumps(os.environ.get("CUDA_VISIBLE_DEVICES")))
"""


def _record_workers(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *ini: str) -> dict[str, str]:
    pytester.makepyfile(test_record=RECORD)
    for name in ("PYTEST_XDIST_WORKER", "COMPRESSGATE_WORKER_GPU"):  # when this suite itself runs under xdist
        monkeypatch.delenv(name, raising=False)
    if ini:
        pytester.makeini("[pytest]\n" + "\n".join(ini) + "\n")
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "--dist", "each")
    result.assert_outcomes(passed=2)  # --dist each: every worker runs the test once
    return {p.stem: json.loads(p.read_text()) for p in pytester.path.glob("gpu-gw*.json")}


def test_each_worker_sees_its_own_gpu(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    assert _record_workers(pytester, monkeypatch) == {"gpu-gw0": "4", "gpu-gw1": "6"}


def test_the_ini_setting_turns_it_off(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    seen = _record_workers(pytester, monkeypatch, "compress_gate_gpu_per_worker = false")
    assert seen == {"gpu-gw0": "4,6", "gpu-gw1": "4,6"}
