"""save/load: safetensors layout, nested checkpoints, interchange, damaged files, atomic writes."""

import json
import os
import pathlib
import re

import numpy as np
import pytest

from chainrule import io as chainrule_io
from optional_dependencies import require


class FakeTensor:
    """Stands in for a chainrule Tensor: .detach() then .numpy() gives its storage."""

    def __init__(self, array):
        self._array = array

    def detach(self):
        return self

    def numpy(self):
        return self._array


def _model_state(rng):
    return {
        "fc1.weight": rng.standard_normal((4, 3)).astype(np.float32),
        "fc1.bias": rng.standard_normal(4).astype(np.float32),
        "fc2.weight": rng.standard_normal((2, 4)),  # float64
        "embedding.index": rng.integers(-5, 5, size=(3, 2), dtype=np.int64),
    }


def _optimizer_state(rng):
    return {
        "state": {
            0: {
                "step": 7,
                "exp_avg": rng.standard_normal((4, 3)).astype(np.float32),
                "exp_avg_sq": rng.random((4, 3)).astype(np.float32),
            },
            1: {"step": 7.0, "momentum_buffer": None},
        },
        "param_groups": [
            {
                "lr": 1e-3,
                "betas": (0.9, 0.999),
                "eps": 1e-8,
                "weight_decay": 0.0,
                "amsgrad": False,
                "params": [0, 1],
                "name": "main",
            },
            {
                "lr": 0.1,
                "betas": (0.5, 0.5),
                "eps": 1e-6,
                "weight_decay": 0.01,
                "amsgrad": True,
                "params": [2],
                "name": None,
            },
        ],
    }


def _assert_same(loaded, original, where="obj"):
    """Structural equality; arrays must match in dtype, shape and bits."""
    if isinstance(original, np.ndarray):
        assert isinstance(loaded, np.ndarray), where
        assert loaded.dtype == original.dtype and loaded.shape == original.shape, where
        np.testing.assert_array_equal(loaded, original, err_msg=where)
    elif isinstance(original, dict):
        assert isinstance(loaded, dict) and list(loaded) == list(original), where
        for key in original:
            _assert_same(loaded[key], original[key], f"{where}[{key!r}]")
    elif isinstance(original, (list, tuple)):
        assert type(loaded) is type(original) and len(loaded) == len(original), where
        for i, (a, b) in enumerate(zip(loaded, original)):
            _assert_same(a, b, f"{where}[{i}]")
    else:
        assert type(loaded) is type(original) and loaded == original, where


# --------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------


def test_flat_state_dict_round_trip(tmp_path):
    state = _model_state(np.random.default_rng(0))
    chainrule_io.save(state, tmp_path / "model.safetensors")
    _assert_same(chainrule_io.load(tmp_path / "model.safetensors"), state)


def test_nested_checkpoint_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    checkpoint = {
        "model": _model_state(rng),
        "optimizer": _optimizer_state(rng),
        "epoch": 12,
        "best_loss": 0.125,
        "worst": float("inf"),
        "note": "ünïcode ✓",
    }
    path = str(tmp_path / "checkpoint.safetensors")
    chainrule_io.save(checkpoint, path)
    _assert_same(chainrule_io.load(path), checkpoint)


def test_tensors_are_stored_under_prefixed_names(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "checkpoint.safetensors"
    chainrule_io.save({"model": _model_state(rng), "optimizer": _optimizer_state(rng)}, path)
    header = _read_header(path)
    names = set(header) - {"__metadata__"}
    assert names == {
        "model.fc1.weight",
        "model.fc1.bias",
        "model.fc2.weight",
        "model.embedding.index",
        "optimizer.state.0.exp_avg",
        "optimizer.state.0.exp_avg_sq",
    }
    assert header["model.fc2.weight"]["dtype"] == "F64"
    assert header["model.embedding.index"]["dtype"] == "I64"
    assert header["model.fc1.weight"]["shape"] == [4, 3]
    assert set(header["model.fc1.weight"]) == {"dtype", "shape", "data_offsets"}


def test_header_is_padded_to_8_bytes_and_data_is_aligned(tmp_path):
    path = tmp_path / "aligned.safetensors"
    state = {
        "a": np.arange(3, dtype=np.int8),
        "b": np.arange(5, dtype=np.float64),
        "c": np.arange(7, dtype=np.float32),
        "d": np.arange(2, dtype=np.float16),
    }
    chainrule_io.save(state, path)
    raw = path.read_bytes()
    header_size = int.from_bytes(raw[:8], "little")
    assert (8 + header_size) % 8 == 0
    header = _read_header(path)
    for name, array in state.items():
        begin, end = header[name]["data_offsets"]
        assert begin % array.dtype.itemsize == 0  # widest dtypes first keeps every tensor aligned
        assert (
            raw[8 + header_size + begin : 8 + header_size + end]
            == array.astype(array.dtype.newbyteorder("<")).tobytes()
        )


def test_edge_shapes_and_dtypes_round_trip(tmp_path):
    state = {
        "scalar": np.array(3.5, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "empty_too": np.zeros(0, dtype=np.int64),
        "flags": np.array([True, False, True]),
        "bytes": np.arange(256, dtype=np.uint8),
        "half": np.array([1.5, -2.25], dtype=np.float16),
        "i32": np.array([[-1, 2**31 - 1]], dtype=np.int32),
        "u64": np.array([2**64 - 1], dtype=np.uint64),
        "big_endian": np.arange(6, dtype=">f8").reshape(2, 3),
        "strided": np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::3],
        "fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
    }
    path = tmp_path / "edges.safetensors"
    chainrule_io.save(state, path)
    loaded = chainrule_io.load(path)
    for name, array in state.items():
        assert loaded[name].shape == array.shape, name
        assert loaded[name].dtype == array.dtype.newbyteorder("="), name
        np.testing.assert_array_equal(loaded[name], array, err_msg=name)


def test_empty_dict_round_trip(tmp_path):
    chainrule_io.save({}, tmp_path / "empty.safetensors")
    assert chainrule_io.load(tmp_path / "empty.safetensors") == {}


def test_tensor_objects_are_saved_through_detach_numpy(tmp_path):
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    chainrule_io.save({"w": FakeTensor(weight), "step": np.int64(4)}, tmp_path / "t.safetensors")
    loaded = chainrule_io.load(tmp_path / "t.safetensors")
    np.testing.assert_array_equal(loaded["w"], weight)
    assert loaded["step"] == 4 and type(loaded["step"]) is int


def test_loaded_arrays_are_writable(tmp_path):
    chainrule_io.save({"w": np.ones(3, dtype=np.float32)}, tmp_path / "w.safetensors")
    loaded = chainrule_io.load(tmp_path / "w.safetensors")
    loaded["w"][0] = 5.0  # would raise on a read-only buffer


def test_to_tensor_hook_converts_every_array(tmp_path):
    rng = np.random.default_rng(3)
    checkpoint = {"model": _model_state(rng), "optimizer": _optimizer_state(rng)}
    chainrule_io.save(checkpoint, tmp_path / "c.safetensors")
    loaded = chainrule_io.load(tmp_path / "c.safetensors", to_tensor=FakeTensor)
    assert isinstance(loaded["model"]["fc1.weight"], FakeTensor)
    assert isinstance(loaded["optimizer"]["state"][0]["exp_avg"], FakeTensor)
    assert loaded["optimizer"]["state"][0]["step"] == 7


def test_save_overwrites_an_existing_file(tmp_path):
    path = tmp_path / "m.safetensors"
    chainrule_io.save({"w": np.zeros(100)}, path)
    chainrule_io.save({"v": np.ones(2, dtype=np.float32)}, path)
    _assert_same(chainrule_io.load(path), {"v": np.ones(2, dtype=np.float32)})


@pytest.mark.parametrize(
    "obj,error,message",
    [
        ([np.zeros(2)], TypeError, "save: obj must be a dict"),
        ({"w": [1, object()]}, TypeError, "save: cannot store object at w.1"),
        ({"w": np.zeros(2, dtype=np.complex64)}, TypeError, "save: dtype complex64 at w"),
        ({"w": np.array(["a"])}, TypeError, "save: dtype <U1 at w"),
        ({("a", "b"): np.zeros(1)}, TypeError, "save: keys must be str or int, got tuple"),
        ({"a.b": np.zeros(1), "a": {"b": np.ones(1)}}, ValueError, "save: two tensors would both be stored as 'a.b'"),
        ({"__metadata__": np.zeros(1)}, ValueError, "save: '__metadata__' is reserved"),
    ],
)
def test_save_bad_objects(tmp_path, obj, error, message):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(error, match="^" + re.escape(message)):
        chainrule_io.save(obj, path)
    assert not path.exists() and list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Interchange with the safetensors package (optional; not a dependency of chainrule)
# --------------------------------------------------------------------------------------------


def test_files_from_the_safetensors_package_load(tmp_path):
    safetensors_numpy = require("safetensors.numpy")
    state = _model_state(np.random.default_rng(4))
    state["flags"] = np.array([True, False])
    state["scalar"] = np.array(2.0, dtype=np.float64)
    state["empty"] = np.zeros((0, 3), dtype=np.float32)
    path = str(tmp_path / "theirs.safetensors")
    safetensors_numpy.save_file(state, path, metadata={"format": "np"})
    loaded = chainrule_io.load(path)
    assert set(loaded) == set(state)  # the package may reorder entries
    _assert_same({name: loaded[name] for name in state}, state)


def test_files_we_write_load_in_safetensors_numpy(tmp_path):
    safetensors_numpy = require("safetensors.numpy")
    rng = np.random.default_rng(5)
    state = _model_state(rng)
    state["scalar"] = np.array(1.25, dtype=np.float32)
    state["empty"] = np.zeros((2, 0), dtype=np.float64)
    path = str(tmp_path / "ours.safetensors")
    chainrule_io.save(state, path)
    loaded = safetensors_numpy.load_file(path)
    assert set(loaded) == set(state)
    for name, array in state.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)


def test_nested_checkpoint_loads_in_safetensors_torch_with_prefixed_names(tmp_path):
    torch = require("torch")
    safetensors_torch = require("safetensors.torch")
    rng = np.random.default_rng(6)
    checkpoint = {"model": _model_state(rng), "optimizer": _optimizer_state(rng)}
    path = str(tmp_path / "ours.safetensors")
    chainrule_io.save(checkpoint, path)
    loaded = safetensors_torch.load_file(path)
    assert loaded["model.fc2.weight"].dtype == torch.float64
    assert loaded["model.embedding.index"].dtype == torch.int64
    np.testing.assert_array_equal(loaded["model.fc1.weight"].numpy(), checkpoint["model"]["fc1.weight"])
    np.testing.assert_array_equal(
        loaded["optimizer.state.0.exp_avg_sq"].numpy(), checkpoint["optimizer"]["state"][0]["exp_avg_sq"]
    )


def test_torch_tensors_save_and_bf16_files_load_as_float32(tmp_path):
    torch = require("torch")
    safetensors_torch = require("safetensors.torch")
    weight = torch.randn(3, 4, requires_grad=True)
    chainrule_io.save({"w": weight}, tmp_path / "from_torch.safetensors")
    np.testing.assert_array_equal(chainrule_io.load(tmp_path / "from_torch.safetensors")["w"], weight.detach().numpy())

    half = torch.tensor([1.0, -2.5, 3.140625, 0.0], dtype=torch.bfloat16)
    safetensors_torch.save_file({"h": half}, str(tmp_path / "bf16.safetensors"))
    loaded = chainrule_io.load(tmp_path / "bf16.safetensors")["h"]
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, half.float().numpy())


# --------------------------------------------------------------------------------------------
# Damaged files
# --------------------------------------------------------------------------------------------


def _read_header(path):
    raw = pathlib.Path(path).read_bytes()
    size = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + size])


def _write_raw(path, header, data=b"", pad=True):
    encoded = json.dumps(header).encode()
    if pad:
        encoded += b" " * (-(8 + len(encoded)) % 8)
    pathlib.Path(path).write_bytes(len(encoded).to_bytes(8, "little") + encoded + data)


def _valid_file(tmp_path):
    path = tmp_path / "valid.safetensors"
    chainrule_io.save({"w": np.arange(12, dtype=np.float32), "b": np.arange(3.0)}, path)
    return path


@pytest.mark.parametrize("cut", [0, 3, 8, 20, -1, -13])
def test_truncated_file_is_a_clear_value_error(tmp_path, cut):
    path = _valid_file(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[:cut])
    with pytest.raises(ValueError, match=re.escape(f"{path}: not a valid safetensors file:")):
        chainrule_io.load(path)


def test_truncated_data_names_the_tensor(tmp_path):
    path = _valid_file(tmp_path)
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ValueError, match=r"truncated: tensor 'w' ends at byte 72"):
        chainrule_io.load(path)


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda p: p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00" + b"\xff" * 16), "header is not UTF-8 JSON"),
        (lambda p: p.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00" + b"not json"), "header is not UTF-8 JSON"),
        (lambda p: p.write_bytes((2**32).to_bytes(8, "little") + b"{}"), "header size field is"),
        (lambda p: p.write_bytes(b"\xff" * 8), "header size field is"),
        (lambda p: _write_raw(p, [1, 2, 3]), "header is a JSON list, not an object"),
        (
            lambda p: _write_raw(p, {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4),
            "truncated: tensor 'w'",
        ),
        (
            lambda p: _write_raw(p, {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 12),
            "4 bytes after the last tensor",
        ),
        (
            lambda p: _write_raw(p, {"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
            "needs 12 bytes but data_offsets span 8",
        ),
        (
            lambda p: _write_raw(p, {"w": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
            "unsupported dtype 'Q7'",
        ),
        (
            lambda p: _write_raw(p, {"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8),
            "bad shape",
        ),
        (
            lambda p: _write_raw(p, {"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8),
            "bad data_offsets",
        ),
        (lambda p: _write_raw(p, {"w": "F32"}), "entry 'w' is not an object"),
        (
            lambda p: _write_raw(
                p,
                {
                    "a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                    "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]},
                },
                b"\0" * 3,
            ),
            "tensor 'b' starts at byte 1, expected 2",
        ),
        (lambda p: _write_raw(p, {"__metadata__": {"k": 1}}), "__metadata__ must map strings"),
        (
            lambda p: _write_raw(p, {"__metadata__": {"chainrule.structure": "{oops"}}),
            "chainrule.structure metadata is not JSON",
        ),
        (
            lambda p: _write_raw(p, {"__metadata__": {"chainrule.structure": '{"dict": [["w", {"tensor": "w"}]]}'}}),
            "refers to a missing tensor 'w'",
        ),
        (
            lambda p: _write_raw(p, {"__metadata__": {"chainrule.structure": '{"pickle": 1}'}}),
            "unknown node kind 'pickle'",
        ),
    ],
)
def test_garbage_is_a_clear_value_error(tmp_path, make, reason):
    path = tmp_path / "garbage.safetensors"
    make(path)
    with pytest.raises(
        ValueError, match=re.escape(f"{path}: not a valid safetensors file: ") + ".*" + re.escape(reason)
    ):
        chainrule_io.load(path)


def test_unpadded_header_from_other_writers_still_loads(tmp_path):
    path = tmp_path / "unpadded.safetensors"
    _write_raw(path, {"w": {"dtype": "U8", "shape": [3], "data_offsets": [0, 3]}}, b"\1\2\3", pad=False)
    np.testing.assert_array_equal(chainrule_io.load(path)["w"], [1, 2, 3])


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        chainrule_io.load(tmp_path / "nope.safetensors")


def test_load_bad_hook(tmp_path):
    path = _valid_file(tmp_path)
    with pytest.raises(TypeError, match="^load: to_tensor must be callable"):
        chainrule_io.load(path, to_tensor=3)


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------


def test_failed_rename_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = _valid_file(tmp_path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(chainrule_io._os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        chainrule_io.save({"w": np.zeros(1000)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_failure_midway_through_the_data_keeps_the_old_file(tmp_path, monkeypatch):
    path = _valid_file(tmp_path)
    before = path.read_bytes()
    real_build_header = chainrule_io._build_header

    class Unwritable:
        def reshape(self, *shape):
            raise OSError("simulated disk full")

    def header_then_a_bad_array(tensors, metadata):
        header, arrays = real_build_header(tensors, metadata)
        return header, arrays[:1] + [Unwritable()] + arrays[1:]

    monkeypatch.setattr(chainrule_io, "_build_header", header_then_a_bad_array)
    with pytest.raises(OSError, match="simulated disk full"):
        chainrule_io.save({"w": np.ones(10_000), "v": np.ones(3, dtype=np.float32)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_interrupt_before_the_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = _valid_file(tmp_path)
    before = path.read_bytes()
    real_fsync = chainrule_io._os.fsync
    calls = []

    def crash_on_first_fsync(descriptor):
        calls.append(descriptor)
        raise KeyboardInterrupt  # not an Exception subclass: cleanup must still run

    monkeypatch.setattr(chainrule_io._os, "fsync", crash_on_first_fsync)
    with pytest.raises(KeyboardInterrupt):
        chainrule_io.save({"w": np.ones(10_000)}, path)
    monkeypatch.setattr(chainrule_io._os, "fsync", real_fsync)
    assert calls and path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    _assert_same(chainrule_io.load(path), {"w": np.arange(12, dtype=np.float32), "b": np.arange(3.0)})


def test_bad_object_never_touches_the_old_file(tmp_path):
    path = _valid_file(tmp_path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        chainrule_io.save({"w": object()}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_new_file_gets_umask_permissions(tmp_path):
    if os.name != "posix":
        pytest.skip("file permissions here are not POSIX ones (umask, mode bits), which this test checks")
    umask = os.umask(0o022)
    os.umask(umask)
    path = tmp_path / "perm.safetensors"
    chainrule_io.save({"w": np.zeros(1)}, path)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)
