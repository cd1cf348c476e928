"""The development commands: make test (ruff, mypy, the suite), make test-fast, make bench."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _recipe(target: str) -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    found = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.M)
    assert found, f"no {target} target"
    return [line.strip() for line in found.group(1).splitlines()]


def _run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks" / "run_all.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_test_runs_ruff_mypy_and_the_whole_suite() -> None:
    recipe = _recipe("test")
    assert any(line.endswith("ruff check .") for line in recipe)
    assert any(line.endswith("mypy .") for line in recipe)
    assert any(line.endswith("-m pytest") for line in recipe)  # everything: no marker filter


def test_make_test_fast_leaves_out_worker_and_browser_tests() -> None:
    assert any('-m pytest -m "not worker and not browser"' in line for line in _recipe("test-fast"))
    markers = (ROOT / "pyproject.toml").read_text()
    assert '"browser:' in markers and '"worker:' in markers


def test_make_bench_calls_a_script_that_exists() -> None:
    (line,) = [line for line in _recipe("bench") if "benchmarks/" in line]
    script = re.search(r"(benchmarks/\S+\.py)", line)
    assert script and (ROOT / script.group(1)).is_file()


def test_run_all_finds_every_benchmark_and_has_quick_arguments_only_for_real_ones() -> None:
    run_all = _run_all()
    names = run_all.discover()
    assert {"ingest", "latency", "quality"} <= set(names)
    assert set(run_all.QUICK_ARGS) <= set(names)


def test_run_all_runs_each_benchmark_reports_where_results_went_and_fails_when_one_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any,
) -> None:
    benches = tmp_path / "benchmarks"
    benches.mkdir()
    (benches / "bench_good.py").write_text(
        "import os, pathlib, sys\n"
        "out = pathlib.Path(os.environ['KB_BENCH_RESULTS_DIR'])\n"
        "out.mkdir(parents=True, exist_ok=True)\n"
        "(out / 'good.md').write_text(' '.join(sys.argv[1:]))\n"
    )
    (benches / "bench_broken.py").write_text("raise SystemExit(3)\n")
    monkeypatch.setenv("KB_DATA_DIR", str(tmp_path / "data"))
    run_all = _run_all()
    assert run_all.discover(benches) == ["broken", "good"]
    assert run_all.run(["good"], full=False, directory=benches) == 0
    written = tmp_path / "data" / "bench-results" / "good.md"
    assert written.read_text() == ""  # no quick arguments for an unknown benchmark
    assert str(written) in capsys.readouterr().out
    assert run_all.run(["broken", "good"], full=False, directory=benches) == 1
    out = capsys.readouterr()
    assert "bench_broken: FAILED (exit 3)" in out.out and "Failed: broken" in out.err
    assert "bench_good: ok" in out.out
