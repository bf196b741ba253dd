"""Save and load checkpoints in the safetensors format, written here with NumPy and json.

Format (https://huggingface.co/docs/safetensors, "Format" section):

    8 bytes       N, the header size, unsigned little-endian
    N bytes       JSON object: tensor name -> {"dtype", "shape", "data_offsets": [begin, end]},
                  plus an optional "__metadata__" object of str -> str; padded with spaces so
                  the data starts 8-byte aligned
    rest          the tensors' raw little-endian bytes, back to back; offsets count from here

Nothing is ever unpickled, so loading an untrusted file cannot run code.

What ``save`` accepts: a state_dict (name -> array), or any nesting of dicts, lists and tuples
whose leaves are arrays or scalars (None, bool, int, float, str; NumPy scalars become these),
e.g. ``{"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3}``. Each array
becomes a safetensors entry named by its dotted path ("model.fc.weight",
"optimizer.state.0.exp_avg"), so other tools see ordinary named tensors. Everything else — the
nesting, int dict keys, the scalars — goes into ``__metadata__["chainrule.structure"]`` as JSON,
and ``load`` uses it to rebuild the same object. Files without that entry (e.g. written by the
``safetensors`` package) load as a flat dict name -> array.
"""

from __future__ import annotations as _annotations

import json as _json
import math as _math
import os as _os
import re as _re
import secrets as _secrets
import threading as _threading
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

import numpy as _np

__all__ = ["save", "load"]

_STRUCTURE_KEY = "chainrule.structure"
_HEADER_ALIGNMENT = 8
# The reference implementation refuses headers over 100 MB; a larger size field means garbage.
_MAX_HEADER_BYTES = 100_000_000

_DTYPE_TO_CODE = {
    _np.dtype(_np.bool_): "BOOL",
    _np.dtype(_np.uint8): "U8",
    _np.dtype(_np.int8): "I8",
    _np.dtype(_np.uint16): "U16",
    _np.dtype(_np.int16): "I16",
    _np.dtype(_np.uint32): "U32",
    _np.dtype(_np.int32): "I32",
    _np.dtype(_np.uint64): "U64",
    _np.dtype(_np.int64): "I64",
    _np.dtype(_np.float16): "F16",
    _np.dtype(_np.float32): "F32",
    _np.dtype(_np.float64): "F64",
}
_CODE_TO_DTYPE = {code: dtype.newbyteorder("<") for dtype, code in _DTYPE_TO_CODE.items()}
# NumPy has no bfloat16. BF16 tensors (common in PyTorch files) load as float32: a bfloat16 is
# the high half of a float32, so widening is exact.
_BF16 = "BF16"


class _FormatError(Exception):
    """Raised inside the parser; load() turns it into a ValueError that names the file."""


# ---------------------------------------------------------------------------------------------
# save
# ---------------------------------------------------------------------------------------------


_INT64_MAX = int(_np.iinfo(_np.int64).max)


def save(obj: Mapping[str, Any], path: str | _os.PathLike | BinaryIO, *, for_tensors: bool = False) -> None:
    """Write ``obj`` (a dict, see the module docstring) to ``path`` atomically.

    The bytes go to a temporary file in the same directory, are flushed and fsync'ed, and only
    then renamed over ``path``; a crash at any point leaves the previous file whole. The format
    is safetensors whatever the file's extension ("model.pth" too). ``path`` may also be an open
    binary file (anything with ``write``), which receives the bytes as they are.
    """
    if not isinstance(obj, dict):
        hint = " (save model.state_dict(), not the model)" if hasattr(obj, "state_dict") else ""
        raise TypeError(
            f"save: obj must be a dict (e.g. a state_dict){hint}, got {type(obj).__name__}; "
            "chainrule stores no pickled objects"
        )
    file_object = path if hasattr(path, "write") else None
    if file_object is None:
        path = _os.fspath(path)  # type: ignore[arg-type]  # a path here: file objects have write()
    tensors: dict[str, Any] = {}
    structure = _describe(obj, (), tensors)
    if for_tensors:
        # Everything chainrule.save writes must load as tensors: chainrule.load widens unsigned
        # integers to int64, which uint64 values beyond int64 do not fit.
        for name, array in tensors.items():
            if array.dtype.kind == "u" and array.dtype.itemsize == 8 and array.size and int(array.max()) > _INT64_MAX:
                raise ValueError(
                    f"save: the uint64 array at {name} holds values beyond int64, which chainrule.load could not "
                    "return as a tensor; store them as another dtype (or write arrays with chainrule.io.save)"
                )
    header, ordered = _build_header(tensors, {_STRUCTURE_KEY: _json.dumps(structure)})
    if file_object is None:
        _write_atomically(path, header, ordered)
        return
    file_object.write(len(header).to_bytes(8, "little"))
    file_object.write(header)
    for array in ordered:
        file_object.write(array.reshape(-1).view(_np.uint8).tobytes())


def _describe(value, key_path, tensors):
    """Return the JSON description of `value`, moving its arrays into `tensors` by dotted name.

    Each node is a one-key object, so no user key can be mistaken for a node type:
    {"dict": [[key, node], ...]}, {"list": [...]}, {"tuple": [...]}, {"tensor": name},
    {"value": scalar}.
    """
    where = ".".join(str(k) for k in key_path) or "obj"
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: keys must be str or int, got {type(key).__name__} {key!r} in {where}")
            items.append([key, _describe(item, key_path + (key,), tensors)])
        return {"dict": items}
    if isinstance(value, (list, tuple)):
        nodes = [_describe(item, key_path + (i,), tensors) for i, item in enumerate(value)]
        return {"tuple" if isinstance(value, tuple) else "list": nodes}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    if isinstance(value, _np.generic):  # e.g. a step counter kept as np.int64
        return {"value": value.item()}
    array = _leaf_array(value, where)
    name = ".".join(str(k) for k in key_path)
    if name == "__metadata__":
        raise ValueError("save: '__metadata__' is reserved by the safetensors format")
    if name in tensors:
        raise ValueError(
            f"save: two tensors would both be stored as {name!r}; rename a key (nested keys are joined with '.')"
        )
    tensors[name] = array
    return {"tensor": name}


def _leaf_array(value, where):
    if isinstance(value, _np.ndarray):
        array = value
    elif hasattr(value, "numpy"):  # a chainrule (or PyTorch) Tensor
        if hasattr(value, "detach"):
            value = value.detach()
        if hasattr(value, "cpu"):  # a tensor on a device is written from a host copy
            value = value.cpu()
        array = _np.asarray(value.numpy())
    else:
        raise TypeError(
            f"save: cannot store {type(value).__name__} at {where}; values must be "
            "arrays, tensors, dicts, lists, tuples, or None/bool/int/float/str"
        )
    if array.dtype.newbyteorder("=") not in _DTYPE_TO_CODE:
        raise TypeError(
            f"save: dtype {array.dtype} at {where} has no safetensors code; "
            f"supported: {sorted(str(d) for d in _DTYPE_TO_CODE)}"
        )
    return array


def _build_header(tensors, metadata):
    """Return the padded header bytes and the arrays in file order, little-endian, contiguous."""
    # Widest items first, as the reference writer does: every tensor then starts at a multiple of
    # its own item size, so a reader can map it in place without misaligned loads.
    names = sorted(tensors, key=lambda name: (-tensors[name].dtype.itemsize, name))
    header = {"__metadata__": metadata}
    ordered = []
    offset = 0
    for name in names:
        array = tensors[name]
        # astype, not ascontiguousarray, because the latter turns 0-d arrays into 1-d ones.
        little = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
        header[name] = {
            "dtype": _DTYPE_TO_CODE[array.dtype.newbyteorder("=")],
            "shape": list(little.shape),
            "data_offsets": [offset, offset + little.nbytes],
        }
        offset += little.nbytes
        ordered.append(little)
    encoded = _json.dumps(header, separators=(",", ":")).encode("utf-8")
    padding = -(8 + len(encoded)) % _HEADER_ALIGNMENT
    return encoded + b" " * padding, ordered


# The temporaries this process is writing now (their full paths); see _remove_stale_temporaries.
_ACTIVE_TEMPORARIES = set()
_ACTIVE_LOCK = _threading.Lock()


def _remove_stale_temporaries(directory, basename):
    """Delete what killed saves of the same file left behind.

    A temporary is named ``.<file>.<pid>-<token>.tmp`` after the process writing it; it is stale
    when that process no longer exists, or is this one but no thread of it is writing it. Names
    without a pid (``.<file>.<token>.tmp``, from before pids were recorded) are stale too.
    Temporaries of other files, and of live writers, are left alone.
    """
    pattern = _re.compile(r"\." + _re.escape(basename) + r"\.(?:(\d+)-)?[0-9a-f]{12}\.tmp")
    try:
        names = _os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        full = _os.path.join(directory, name)
        pid = int(match.group(1)) if match.group(1) else None
        if pid == _os.getpid():
            with _ACTIVE_LOCK:
                if full in _ACTIVE_TEMPORARIES:
                    continue
        elif pid is not None and _process_exists(pid):
            continue
        try:
            _os.unlink(full)
        except OSError:
            pass


def _process_exists(pid):
    if _os.name == "nt":  # no signal-0 probe: keep other processes' temporaries
        return True
    try:
        _os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _write_atomically(path, header, arrays):
    directory = _os.path.dirname(_os.path.abspath(path))
    basename = _os.path.basename(path)
    _remove_stale_temporaries(directory, basename)
    temporary = _os.path.join(directory, f".{basename}.{_os.getpid()}-{_secrets.token_hex(6)}.tmp")
    # os.open with 0o666 lets the umask decide the final permissions, like a plain open() would.
    flags = _os.O_WRONLY | _os.O_CREAT | _os.O_EXCL | getattr(_os, "O_BINARY", 0)
    with _ACTIVE_LOCK:
        _ACTIVE_TEMPORARIES.add(temporary)
    try:
        _write_and_rename(path, temporary, flags, header, arrays)
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE_TEMPORARIES.discard(temporary)
    _fsync_directory(directory)


def _write_and_rename(path, temporary, flags, header, arrays):
    descriptor = _os.open(temporary, flags, 0o666)
    try:
        with _os.fdopen(descriptor, "wb") as file:
            file.write(len(header).to_bytes(8, "little"))
            file.write(header)
            for array in arrays:
                # A flat uint8 view: the file gets the array's own buffer, with no tobytes() copy.
                file.write(array.reshape(-1).view(_np.uint8))
            file.flush()
            _os.fsync(file.fileno())
        _os.replace(temporary, path)
    except BaseException:
        try:
            _os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); platforms that cannot open a directory skip it."""
    try:
        descriptor = _os.open(directory, _os.O_RDONLY)
    except OSError:
        return
    try:
        _os.fsync(descriptor)
    except OSError:
        pass
    finally:
        _os.close(descriptor)


# ---------------------------------------------------------------------------------------------
# load
# ---------------------------------------------------------------------------------------------


def load(path: str | _os.PathLike | BinaryIO, to_tensor: Callable[[_np.ndarray], Any] | None = None) -> Any:
    """Read a safetensors file and rebuild what ``save`` stored.

    Arrays come back as writable NumPy arrays (one read of the file; they share its buffer), or
    as ``to_tensor(array)`` when a hook is given. A damaged file raises
    ``ValueError("<path>: not a valid safetensors file: <reason>")``.
    """
    if to_tensor is not None and not callable(to_tensor):
        raise TypeError(f"load: to_tensor must be callable or None, got {type(to_tensor).__name__}")
    if hasattr(path, "read"):  # an open binary file
        contents = bytearray(path.read())
        read = len(contents)
        path = getattr(path, "name", "<file object>")
    else:
        path = _os.fspath(path)
        with open(path, "rb") as file:
            contents = bytearray(_os.fstat(file.fileno()).st_size)
            read = file.readinto(contents)
    try:
        if read != len(contents):
            raise _FormatError(f"read {read} of {len(contents)} bytes")
        arrays, metadata = _parse(contents)
        convert = to_tensor if to_tensor is not None else (lambda array: array)
        if _STRUCTURE_KEY not in metadata:
            return {name: convert(array) for name, array in arrays.items()}
        try:
            structure = _json.loads(metadata[_STRUCTURE_KEY])
        except _json.JSONDecodeError as error:
            raise _FormatError(f"{_STRUCTURE_KEY} metadata is not JSON ({error})") from None
        return _rebuild(structure, arrays, convert)
    except _FormatError as error:
        foreign = _foreign_format(contents)
        if foreign:
            raise ValueError(f"{path}: {foreign}") from None
        raise ValueError(f"{path}: not a valid safetensors file: {error}") from None
    except RecursionError:  # json or _rebuild on a header nested thousands deep
        raise ValueError(f"{path}: not a valid safetensors file: the header is nested too deeply") from None


_CONVERT_HINT = (
    "chainrule never unpickles (a pickle can run any code). If you trust the file, convert "
    "it once with PyTorch: `chainrule.save(torch.load(path, weights_only=True), new_path)` "
    "writes its state dict as safetensors, which chainrule.load reads"
)


def _foreign_format(contents):
    """What a file that is not safetensors is, judged by its first bytes; None when unknown."""
    head = bytes(contents[:16])
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return (
            "this is a zip archive, the format of torch.save (a PyTorch checkpoint holding "
            "pickled data), not a chainrule file. " + _CONVERT_HINT
        )
    if head.startswith(b"\x80") and len(head) > 1 and 2 <= head[1] <= 5:
        return (
            "this is a Python pickle (PyTorch's legacy torch.save format, or pickle.dump), "
            "not a chainrule file. " + _CONVERT_HINT
        )
    if head.startswith(b"\x93NUMPY"):
        return (
            "this is a NumPy .npy file, not a chainrule file: read it with numpy.load and wrap "
            "the array with chainrule.from_numpy"
        )
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return (
            "this is an HDF5 file (e.g. Keras weights), not a chainrule file: read it with h5py "
            "and save the arrays with chainrule.save"
        )
    return None


def _parse(contents):
    """Check the layout of a whole file; return (name -> array, metadata)."""
    if len(contents) < 8:
        raise _FormatError(f"file is {len(contents)} bytes, shorter than the 8-byte header size")
    header_size = int.from_bytes(contents[:8], "little")
    if header_size > _MAX_HEADER_BYTES:
        raise _FormatError(f"header size field is {header_size} bytes, over the {_MAX_HEADER_BYTES}-byte limit")
    if 8 + header_size > len(contents):
        raise _FormatError(
            f"truncated: header of {header_size} bytes but only {len(contents) - 8} bytes follow the size field"
        )
    try:
        header = _json.loads(bytes(contents[8 : 8 + header_size]).decode("utf-8"))
    except (UnicodeDecodeError, _json.JSONDecodeError) as error:
        raise _FormatError(f"header is not UTF-8 JSON ({error})") from None
    if not isinstance(header, dict):
        raise _FormatError(f"header is a JSON {type(header).__name__}, not an object")

    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _FormatError("__metadata__ must map strings to strings")

    data = memoryview(contents)[8 + header_size :]
    entries = sorted(
        ((name, _check_entry(name, entry)) for name, entry in header.items()), key=lambda item: item[1][2]
    )  # by (begin, end): empty tensors first
    arrays = {}
    expected_begin = 0
    for name, (code, shape, (begin, end)) in entries:
        if begin != expected_begin:
            raise _FormatError(
                f"tensor {name!r} starts at byte {begin}, expected {expected_begin}; tensors must be back to back"
            )
        if end > len(data):
            raise _FormatError(
                f"truncated: tensor {name!r} ends at byte {end} but the data section has {len(data)} bytes"
            )
        arrays[name] = _decode(code, shape, data[begin:end])
        expected_begin = end
    if expected_begin != len(data):
        raise _FormatError(f"{len(data) - expected_begin} bytes after the last tensor")
    # Header order, not file order: for files without our structure entry, that is the only
    # order the writer expressed.
    return {name: arrays[name] for name in header}, metadata


def _check_entry(name, entry):
    if not isinstance(entry, dict):
        raise _FormatError(f"entry {name!r} is not an object")
    code, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if code not in _CODE_TO_DTYPE and code != _BF16:
        raise _FormatError(f"tensor {name!r} has unsupported dtype {code!r}")
    if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise _FormatError(f"tensor {name!r} has a bad shape {shape!r}")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        raise _FormatError(f"tensor {name!r} has bad data_offsets {offsets!r}")
    itemsize = 2 if code == _BF16 else _CODE_TO_DTYPE[code].itemsize
    expected_bytes = _math.prod(shape) * itemsize
    if offsets[1] - offsets[0] != expected_bytes:
        raise _FormatError(
            f"tensor {name!r} of shape {shape} and dtype {code} needs "
            f"{expected_bytes} bytes but data_offsets span "
            f"{offsets[1] - offsets[0]}"
        )
    return code, tuple(shape), tuple(offsets)


def _decode(code, shape, raw):
    if code == _BF16:
        halves = _np.frombuffer(raw, dtype="<u2").astype(_np.uint32)
        return (halves << 16).view(_np.float32).reshape(shape)
    array = _np.frombuffer(raw, dtype=_CODE_TO_DTYPE[code]).reshape(shape)
    # Native byte order (a no-op view on little-endian machines) so callers see plain dtypes.
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _rebuild(node, arrays, convert):
    if not isinstance(node, dict) or len(node) != 1:
        raise _FormatError(f"{_STRUCTURE_KEY} has a malformed node {node!r:.80}")
    ((kind, payload),) = node.items()
    if kind == "tensor":
        if payload not in arrays:
            raise _FormatError(f"{_STRUCTURE_KEY} refers to a missing tensor {payload!r}")
        return convert(arrays[payload])
    if kind == "value":
        return payload
    if kind == "list":
        return [_rebuild(item, arrays, convert) for item in payload]
    if kind == "tuple":
        return tuple(_rebuild(item, arrays, convert) for item in payload)
    if kind == "dict":
        return {key: _rebuild(item, arrays, convert) for key, item in payload}
    raise _FormatError(f"{_STRUCTURE_KEY} has an unknown node kind {kind!r}")
