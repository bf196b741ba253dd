"""repr(tensor) as PyTorch prints it.

The layout rules are PyTorch's: 4 decimals, scientific notation when the nonzero magnitudes span
more than a factor of 1000 (or pass 1e8, or go below 1e-4), "1." style when every value is a whole
number, elements right-aligned to one width, rows wrapped at 80 columns, and tensors of more than
1000 elements summarized by their first and last 3 entries along each dimension. The dtype is named
unless it is the default floating dtype, int64 or bool.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule._core import Tensor
from chainrule._creation import get_default_dtype

PRECISION = 4
THRESHOLD = 1000
EDGE_ITEMS = 3
LINE_WIDTH = 80


class _ElementFormat:
    """One width and one notation for every element of a tensor, chosen from its values."""

    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        flat = values.reshape(-1)
        if not self.floating:
            for value in flat.tolist():
                self.width = max(self.width, len(str(value)))
            return
        finite = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if finite.size == 0:
            return
        magnitudes = np.abs(finite)
        smallest, largest = magnitudes.min(), magnitudes.max()
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        wide_range = largest / smallest > 1000.0 or largest > 1.0e8
        if self.int_mode:
            self.sci_mode = wide_range
        else:
            self.sci_mode = wide_range or smallest < 1.0e-4
        for value in finite.tolist():
            if self.sci_mode:
                width = len(f"{value:.{PRECISION}e}")
            elif self.int_mode:
                width = len(f"{value:.0f}") + 1  # the trailing "."
            else:
                width = len(f"{value:.{PRECISION}f}")
            self.width = max(self.width, width)

    def __call__(self, value: Any) -> str:
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.width}.{PRECISION}e}"
        elif self.int_mode:
            text = f"{value:.0f}"
            if math.isfinite(value):
                text += "."
        else:
            text = f"{value:.{PRECISION}f}"
        return " " * (self.width - len(text)) + text


def _edges(values: np.ndarray) -> np.ndarray:
    """The entries a summarized print shows: the first and last EDGE_ITEMS along every dimension."""
    if values.ndim == 0:
        return values
    if values.shape[0] > 2 * EDGE_ITEMS:
        values = np.concatenate([values[:EDGE_ITEMS], values[-EDGE_ITEMS:]])
    return np.stack([_edges(row) for row in values]) if values.ndim > 1 else values


def _body(values: np.ndarray, indent: int, summarize: bool, fmt: _ElementFormat) -> str:
    if values.ndim == 0:
        return fmt(values.item())
    count = values.shape[0]
    cut = summarize and count > 2 * EDGE_ITEMS
    if values.ndim == 1:
        items = values.tolist()
        if cut:
            texts = [fmt(v) for v in items[:EDGE_ITEMS]] + [" ..."] + [fmt(v) for v in items[-EDGE_ITEMS:]]
        else:
            texts = [fmt(v) for v in items]
        per_line = max(1, (LINE_WIDTH - indent) // (fmt.width + 2))
        lines = [", ".join(texts[i : i + per_line]) for i in range(0, len(texts), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = range(count)
    if cut:
        parts = (
            [_body(values[i], indent + 1, summarize, fmt) for i in rows[:EDGE_ITEMS]]
            + ["..."]
            + [_body(values[i], indent + 1, summarize, fmt) for i in rows[-EDGE_ITEMS:]]
        )
    else:
        parts = [_body(values[i], indent + 1, summarize, fmt) for i in rows]
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _with_suffixes(text: str, suffixes, indent: int) -> str:
    pieces = [text]
    last_line = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line + len(suffix) + 2 > LINE_WIDTH:
            pieces.append(",\n" + " " * indent + suffix)
            last_line = indent + len(suffix)
        else:
            pieces.append(", " + suffix)
            last_line += len(suffix) + 2
    pieces.append(")")
    return "".join(pieces)


def _names_dtype(dtype) -> bool:
    return str(dtype).rsplit(".", 1)[-1] not in ("int64", "bool") and dtype != get_default_dtype()


def tensor_repr(t: Tensor, prefix: str = "tensor(") -> str:
    values = t.detach().cpu().numpy()
    indent = len(prefix)
    suffixes = []
    if t.device.type != "cpu":  # PyTorch names the device first: tensor([1.], device='cuda:0')
        suffixes.append(f"device='{t.device}'")
    if values.size == 0:
        if values.ndim != 1:
            suffixes.append(f"size={tuple(values.shape)}")
        # Nothing shows the dtype of an empty tensor, so only the default one goes unnamed.
        if t.dtype != get_default_dtype():
            suffixes.append(f"dtype={t.dtype!r}")
        body = "[]"
    else:
        if _names_dtype(t.dtype):
            suffixes.append(f"dtype={t.dtype!r}")
        summarize = values.size > THRESHOLD
        fmt = _ElementFormat(_edges(values) if summarize else values)
        body = _body(values, indent, summarize, fmt)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _with_suffixes(prefix + body, suffixes, indent)
