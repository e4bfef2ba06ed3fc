"""A description of the machine that ran the benchmarks (cheap to gather)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                kib = int(line.split()[1])
                return f"{kib / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _blas() -> str:
    import numpy as np

    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]
        blas = deps.get("blas", {})
        text = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # best effort: older numpy has no mode='dicts'
        text = "unknown"
    try:
        from threadpoolctl import threadpool_info

        pools = sorted(
            {
                f"{p['internal_api']} {p['num_threads']} threads"
                for p in threadpool_info()
                if p.get("user_api") in ("blas", "openmp")
            }
        )
        if pools:
            text += " (" + ", ".join(pools) + ")"
    except ImportError:
        pass
    return text


def _git() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" + uncommitted changes" if dirty else "")


def describe() -> list[tuple[str, str]]:
    """(item, value) pairs for the report."""
    import numpy as np
    import scipy

    import quanttheory

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        affinity = os.cpu_count()
    rows = [
        ("CPU", _cpu_model()),
        ("cores", f"{os.cpu_count()} logical, {affinity} usable by this process"),
        ("RAM", _ram()),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("numpy", np.__version__),
        ("scipy", scipy.__version__),
        ("BLAS", _blas()),
    ]
    try:
        import torch

        rows.append(
            ("torch", f"{torch.__version__} ({torch.get_num_threads()} threads)")
        )
    except ImportError:
        rows.append(("torch", "not installed"))
    rows.append(("quanttheory", f"{quanttheory.__version__}, git {_git()}"))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if var in os.environ:
            rows.append((var, os.environ[var]))
    return rows
