"""Run every benchmark (benchmarks/bench_*.py) in turn: what ``make bench`` calls.

    .venv/bin/python benchmarks/run_all.py [--full] [--only ingest,latency] [--dry-run]

By default each benchmark runs at quick sizes (minutes rather than an hour on two cores) and writes its
results under ``$KB_DATA_DIR/bench-results/`` (default ``.kbdata/bench-results/``), so that a
quick run never overwrites the published figures. ``--full`` runs each benchmark with its own
defaults, as the published figures were made, and writes ``benchmarks/results/``.

Each benchmark is a separate process (they configure Django for their own databases); one that
fails does not stop the others. Prints where the results went; exits nonzero when any failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# Quick arguments per benchmark (by the name after "bench_"); one not listed runs with none.
QUICK_ARGS: dict[str, list[str]] = {
    # (The PDF extraction comparison reads every shared PDF twice: ~15 min on two busy cores.)
    "ingest": ["--providers", "hash", "--docs", "40", "--workers", "1", "--skip", "extraction,memory"],
    "latency": ["--sizes", "10000", "--requests", "60"],
    "quality": ["--no-tune"],
}


def discover(directory: Path = HERE) -> list[str]:
    """The benchmarks' names, in a stable order."""
    return sorted(path.stem.removeprefix("bench_") for path in directory.glob("bench_*.py"))


def quick_results_dir() -> Path:
    return Path(os.environ.get("KB_DATA_DIR") or ROOT / ".kbdata").resolve() / "bench-results"


def command(name: str, *, full: bool, directory: Path = HERE) -> list[str]:
    return [sys.executable, str(directory / f"bench_{name}.py"), *([] if full else QUICK_ARGS.get(name, []))]


def _snapshot(directory: Path) -> dict[Path, float]:
    return {path: path.stat().st_mtime for path in directory.glob("*") if path.is_file()} if directory.is_dir() else {}


def run(names: list[str], *, full: bool, dry_run: bool = False, directory: Path = HERE) -> int:
    results_dir = directory / "results" if full else quick_results_dir()
    env = dict(os.environ)
    env.pop("KB_BENCH_RESULTS_DIR", None)
    if not full:
        env["KB_BENCH_RESULTS_DIR"] = str(results_dir)  # read by benchmarks/common.py
    failed: list[str] = []
    summary: list[str] = []
    for name in names:
        cmd = command(name, full=full, directory=directory)
        print(f"== bench_{name}: {' '.join(cmd[1:])}", flush=True)
        if dry_run:
            continue
        before = _snapshot(results_dir)
        started = time.monotonic()
        code = subprocess.call(cmd, cwd=ROOT, env=env)
        seconds = time.monotonic() - started
        written = sorted(str(path) for path, mtime in _snapshot(results_dir).items() if before.get(path) != mtime)
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        if code != 0:
            failed.append(name)
        summary.append(f"bench_{name}: {status} in {seconds:.0f} s; results: {', '.join(written) or 'none written'}")
    if not dry_run:
        print("\n== Summary", *summary, sep="\n")
        print(f"Results directory: {results_dir}")
    if failed:
        print(f"Failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="each benchmark's own defaults; writes benchmarks/results/")
    parser.add_argument("--only", default="", help="comma list of benchmark names (ingest, latency, quality…)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    args = parser.parse_args(argv)
    names = discover()
    if args.only:
        wanted = [n.strip().removeprefix("bench_") for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"no such benchmark: {', '.join(unknown)} (have: {', '.join(names)})")
        names = [n for n in names if n in wanted]
    return run(names, full=args.full, dry_run=args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
