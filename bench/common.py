"""Shared bits of the benchmarks: timing, percentiles, memory, tables, results files.

Every benchmark prints a rich table whose figures sit next to the baseline
measured in the same run, and their ratio (the machine is shared and noisy:
absolute seconds drift, ratios much less).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
PIAF = ROOT.parent / "shared" / "eval" / "piaf"
console = Console(width=200)  # wide tables stay readable in logs and pipes


@contextmanager
def timer(into: dict, key: str):
    t = time.perf_counter()
    try:
        yield
    finally:
        into[key] = into.get(key, 0.0) + time.perf_counter() - t


def percentile(values, p: float) -> float:
    """p in [0, 100] (numpy's linear interpolation); NaN for no values."""
    return float(np.percentile(values, p)) if len(values) else float("nan")


def median(values) -> float:
    return percentile(values, 50)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_memory_mb(pid: int) -> dict:
    """Current and peak RSS of another process, from /proc."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}×" if baseline else "–"


def table(title: str, columns: list[str], rows: list[list]) -> Table:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c, justify="left" if c == columns[0] else "right")
    for r in rows:
        t.add_row(*[_fmt(x) for x in r])
    console.print(t)
    return t


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:,.3f}" if abs(x) < 10 else f"{x:,.1f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def machine() -> dict:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "cpu": _cpu_name(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def save(name: str, results: dict, out_dir: str | Path | None) -> Path | None:
    """Write results as JSON to `out_dir/<name>.json` (when an output folder is given)."""
    if not out_dir:
        return None
    path = Path(out_dir) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(machine=machine(), **results), ensure_ascii=False, indent=1))
    console.print(f"[dim]results: {path}[/]")
    return path
