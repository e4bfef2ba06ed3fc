r"""Stream the tensors of a model, a state dict or a checkpoint file, one at a time.

* ``.safetensors``: :func:`safetensors.safe_open` memory-maps the file and
  each tensor is read when it is reached;
* ``.pt``, ``.pth``, ``.bin``, ``.ckpt``: ``torch.load(path, mmap=True,
  weights_only=True, map_location="cpu")`` maps the storages without reading
  them (files in the legacy, non-zip format are read whole);
* a directory: its ``*.safetensors`` files (sharded Hugging Face
  checkpoints), else its single ``.pt``/``.pth``/``.bin`` file.

Full training checkpoints (``{"state_dict": ..., "optimizer": ...}``) are
searched for the model's state dict.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._core.errors import InvalidArgument
from ._select import unwrap

__all__ = ["TensorSource", "engine_array", "open_source", "packed_params"]

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
_STATE_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "weights")


class TensorSource:
    """Names, count and a lazy iterator over ``(name, tensor)`` pairs."""

    def __init__(
        self, label: str, names: list[str], getter, stable: bool = True, peek=None
    ):
        self.label = label
        self.names = names
        self._get = getter
        self._peek = peek
        #: True when every tensor stays alive while iterating (in-memory or
        #: torch.load), so equal data pointers mean tied weights. Tensors read
        #: from safetensors are freed after use and their addresses reused.
        self.stable = stable

    def get(self, name: str) -> torch.Tensor:
        """The tensor ``name`` (read from the file if the source is one)."""
        return self._get(name)

    def peek(self, name: str):
        """``name``'s dtype and shape without reading its data.

        A ``'meta'``-device tensor for safetensors files (from the header
        alone); the tensor itself for other sources, whose tensors are in
        memory or memory-mapped already.
        """
        return self._get(name) if self._peek is None else self._peek(name)

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[tuple[str, torch.Tensor]]:
        for name in self.names:
            yield name, self._get(name)


def _is_tensor_map(obj) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(v, (torch.Tensor, np.ndarray)) for v in obj.values())
    )


def _find_state_dict(func: str, obj, label: str) -> Mapping:
    if _is_tensor_map(obj):
        return obj
    if isinstance(obj, nn.Module):
        return unwrap(obj).state_dict()
    if isinstance(obj, Mapping):
        for key in _STATE_KEYS:
            inner = obj.get(key)
            if _is_tensor_map(inner) or isinstance(inner, nn.Module):
                return _find_state_dict(func, inner, label)
        if len(obj) == 0:
            return obj
        # keep torch.ao's packed params (tuples of tensors) so that the caller
        # can say the checkpoint is already quantized
        tensors = {
            k: v
            for k, v in obj.items()
            if isinstance(v, torch.Tensor) or packed_params(str(k), v)
        }
        if tensors:
            return tensors
    raise InvalidArgument(
        f"{func}: {label} holds no state dict (a mapping of names to tensors); "
        f"found {type(obj).__name__}"
        + (f" with keys {list(obj)[:6]}" if isinstance(obj, Mapping) else "")
    )


def packed_params(name: str, value) -> bool:
    """Whether ``value`` is the packed weight of a torch.ao quantized module.

    ``torch.ao.quantization.quantize_dynamic`` (and ``convert``) replace a
    layer's ``weight`` by ``<layer>._packed_params._packed_params``, a tuple
    ``(quantized weight, bias)``.
    """
    if not isinstance(value, (tuple, list)):
        return False
    tensors = [v for v in value if isinstance(v, torch.Tensor)]
    if not tensors:
        return False
    return name.endswith("_packed_params") or any(t.is_quantized for t in tensors)


def _as_tensor(v) -> torch.Tensor:
    return torch.from_numpy(v) if isinstance(v, np.ndarray) else v


def _from_mapping(func: str, obj: Mapping, label: str) -> TensorSource:
    sd = _find_state_dict(func, obj, label)
    names = list(sd.keys())
    bad = [k for k in names if not isinstance(k, str)]
    if bad:
        raise InvalidArgument(f"{func}: {label} has a non-string key {bad[0]!r}")
    return TensorSource(label, names, lambda n: _as_tensor(sd[n]))


def _from_model(func: str, model: nn.Module) -> TensorSource:
    model = unwrap(model)
    # state_dict() returns references, not copies: memory stays bounded.
    sd = model.state_dict(keep_vars=False)
    return TensorSource(type(model).__name__, list(sd.keys()), sd.__getitem__)


def _open_safetensors(func: str, paths: list[Path], label: str) -> TensorSource:
    try:
        from safetensors import safe_open
    except ImportError:  # pragma: no cover - depends on the environment
        raise InvalidArgument(
            f"{func}: reading {label} needs the 'safetensors' package "
            "(pip install safetensors)"
        ) from None
    index: dict[str, Path] = {}
    for p in paths:
        try:
            with safe_open(str(p), framework="pt") as fh:
                for k in fh.keys():
                    index[k] = p
        except Exception as exc:  # safetensors raises its own error types
            raise InvalidArgument(
                f"{func}: cannot read {str(p)!r} as safetensors: {_one_line(exc)}"
            ) from None

    handles: dict[Path, object] = {}

    def get(name: str) -> torch.Tensor:
        p = index[name]
        fh = handles.get(p)
        if fh is None:
            # memory-mapped: a tensor is read from disk when it is requested
            fh = handles[p] = safe_open(str(p), framework="pt")
        try:
            return fh.get_tensor(name)
        except Exception as exc:
            raise InvalidArgument(
                f"{func}: cannot read tensor {name!r} from {str(p)!r}: {_one_line(exc)}"
            ) from None

    def peek(name: str) -> torch.Tensor:
        p = index[name]
        fh = handles.get(p)
        if fh is None:
            fh = handles[p] = safe_open(str(p), framework="pt")
        try:
            info = fh.get_slice(name)
            dtype = _ST_DTYPES.get(info.get_dtype())
            shape = tuple(int(i) for i in info.get_shape())
        except Exception as exc:
            raise InvalidArgument(
                f"{func}: cannot read tensor {name!r} from {str(p)!r}: {_one_line(exc)}"
            ) from None
        if dtype is None:  # a dtype this torch lacks: read it to say what it is
            return get(name)
        return torch.empty(shape, dtype=dtype, device="meta")

    return TensorSource(label, list(index), get, stable=False, peek=peek)


#: safetensors' dtype names as torch dtypes (for :meth:`TensorSource.peek`).
_ST_DTYPES = {
    name: getattr(torch, attr)
    for name, attr in (
        ("F64", "float64"),
        ("F32", "float32"),
        ("F16", "float16"),
        ("BF16", "bfloat16"),
        ("F8_E4M3", "float8_e4m3fn"),
        ("F8_E5M2", "float8_e5m2"),
        ("I64", "int64"),
        ("I32", "int32"),
        ("I16", "int16"),
        ("I8", "int8"),
        ("U8", "uint8"),
        ("BOOL", "bool"),
    )
    if hasattr(torch, attr)
}


def _open_torch(func: str, path: Path, label: str) -> TensorSource:
    kwargs = {"map_location": "cpu", "weights_only": True}
    try:
        with warnings.catch_warnings():
            # a file with quantized tensors (torch.ao) makes torch's loader
            # warn about its own internals; analyze then says what matters,
            # that the checkpoint is already quantized
            for message in ("TypedStorage is deprecated", r"torch\.quantize_per_"):
                warnings.filterwarnings("ignore", message=message, category=UserWarning)
            try:
                obj = torch.load(str(path), mmap=True, **kwargs)
            except RuntimeError as exc:
                # legacy (non-zip) files cannot be memory-mapped: read them whole
                if "mmap" not in str(exc) and "zip" not in str(exc).lower():
                    raise
                obj = torch.load(str(path), **kwargs)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        raise InvalidArgument(
            f"{func}: cannot read {label} as a torch checkpoint "
            f"(weights_only=True): {_one_line(exc)}"
        ) from None
    return _from_mapping(func, obj, label)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")


def open_source(func: str, source) -> TensorSource:
    """A :class:`TensorSource` for a model, a mapping or a path."""
    if isinstance(source, nn.Module):
        return _from_model(func, source)
    if isinstance(source, Mapping):
        return _from_mapping(func, source, "the state dict")
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidArgument(
            f"{func}: source={type(source).__name__} must be a torch.nn.Module, a "
            "state dict (mapping of names to tensors) or a path to a .safetensors, "
            ".pt or .pth file"
        )
    path = Path(source)
    label = repr(str(path))
    if not path.exists():
        raise InvalidArgument(f"{func}: {label} does not exist")
    if path.is_dir():
        shards = sorted(path.glob("*.safetensors"))
        if shards:
            return _open_safetensors(func, shards, label)
        pts = sorted(p for p in path.iterdir() if p.suffix in TORCH_SUFFIXES)
        if len(pts) == 1:
            return _open_torch(func, pts[0], repr(str(pts[0])))
        raise InvalidArgument(
            f"{func}: directory {label} holds no .safetensors file and "
            f"{len(pts)} torch checkpoint files; pass the file itself"
        )
    if not os.access(path, os.R_OK):
        raise InvalidArgument(f"{func}: {label} is not readable (permission denied)")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return _open_safetensors(func, [path], label)
    if suffix in TORCH_SUFFIXES:
        return _open_torch(func, path, label)
    raise InvalidArgument(
        f"{func}: {label} has an unknown extension {suffix or '(none)'!r}; pass a "
        ".safetensors, .pt, .pth, .bin or .ckpt file"
    )


def engine_array(tensor: torch.Tensor) -> np.ndarray:
    """The tensor as a CPU numpy array for the engine, without rounding.

    float32 and float64 keep their dtype; float16, bfloat16 and the float8
    types become float32, which holds each of their values exactly.
    """
    t = tensor.detach()
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t.to("cpu").contiguous().numpy()
