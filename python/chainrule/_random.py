"""torch.Generator and the seeding functions, over the C++ random streams.

A Generator is a SplitMix64 stream (csrc/core/tensor.cpp): a key derived from its seed and a
count of the draws handed out. Every draw that is given no generator comes from the default one,
which ``manual_seed`` seeds. The numbers differ from PyTorch's for the same seed.
"""

from __future__ import annotations

import operator
import os

import numpy as _np

from chainrule import _core
from chainrule._core import Tensor
from chainrule._device import device as device_class
from chainrule._typing import DeviceLike

_UINT64 = 1 << 64


def _seed_arg(seed, where: str) -> int:
    """A seed as PyTorch takes it: any int in [-2**63, 2**64), negatives counted modulo 2**64."""
    if isinstance(seed, bool):
        raise TypeError(f"{where}: seed must be an int, got bool")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"{where}: seed must be an int, got {type(seed).__name__}") from None
    if not -(1 << 63) <= seed < _UINT64:
        raise ValueError(f"{where}: seed must be within [-0x8000_0000_0000_0000, 0xffff_ffff_ffff_ffff], got {seed}")
    return seed % _UINT64


def _device_type(device) -> str:
    return device_class(device).type


class Generator:
    """A seeded source of random numbers, passed as ``generator=`` to random functions.

    ``Generator().manual_seed(0)`` gives the same draws every time; ``get_state()`` and
    ``set_state()`` save and restore the position in the stream.
    """

    def __init__(self, device: DeviceLike = "cpu") -> None:
        if _device_type(device) != "cpu":
            raise RuntimeError(
                f"Generator: device '{device}' has no random generator: chainrule's random numbers come from the CPU"
            )
        self._stream = _core._Generator()  # the C++ state that random functions advance

    @property
    def device(self) -> device_class:
        return device_class("cpu")

    def manual_seed(self, seed: int) -> Generator:
        self._stream._seed(_seed_arg(seed, "manual_seed"))
        return self

    def seed(self) -> int:
        """Seeds the generator from the operating system's entropy; returns that seed."""
        fresh = int.from_bytes(os.urandom(8), "little")
        self._stream._seed(fresh)
        return fresh

    def initial_seed(self) -> int:
        return self._stream._initial_seed

    def get_state(self) -> Tensor:
        """The stream position as an int64 tensor [initial seed, key, offset] (bit patterns)."""

        def signed(value: int) -> int:
            return value - _UINT64 if value >= 1 << 63 else value

        stream = self._stream
        state = [signed(stream._initial_seed), signed(stream._key), signed(stream._offset)]
        return _core.from_numpy(_np.array(state, dtype=_np.int64))

    def set_state(self, new_state: Tensor) -> Generator:
        if (
            not isinstance(new_state, _core.Tensor)
            or new_state.dtype != _core.dtype.int64
            or tuple(new_state.shape) != (3,)
        ):
            raise TypeError(
                "set_state: new_state must be a state from Generator.get_state() (an int64 tensor of 3 values)"
            )
        initial_seed, key, offset = (value % _UINT64 for value in new_state.tolist())
        self._stream._initial_seed, self._stream._key, self._stream._offset = initial_seed, key, offset
        return self

    def _draw_seed(self) -> int:
        """A 64-bit seed drawn from this stream (for samplers and permutations)."""
        return self._stream._next_u64()

    def __repr__(self) -> str:
        return f"<chainrule.Generator initial_seed={self.initial_seed()}>"


def _default() -> Generator:
    generator = Generator.__new__(Generator)
    generator._stream = _core._default_generator()  # the stream every unnamed draw uses
    return generator


default_generator = _default()


def _stream_arg(generator, where: str):
    """What the C++ functions take for `generator=`: None (the default stream) or a stream."""
    if generator is None:
        return None
    if not isinstance(generator, Generator):
        raise TypeError(f"{where}: generator must be a chainrule.Generator or None, got {type(generator).__name__}")
    return generator._stream


def _draw_seed(generator, where: str) -> int:
    """A 64-bit seed from `generator` (the default one when None)."""
    if generator is None:
        return default_generator._draw_seed()
    if not isinstance(generator, Generator):
        raise TypeError(f"{where}: generator must be a chainrule.Generator or None, got {type(generator).__name__}")
    return generator._draw_seed()


def manual_seed(seed: int) -> Generator:
    """Seeds the default generator (every random draw that names no generator); returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seeds the default generator from the operating system's entropy; returns that seed."""
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    default_generator.set_state(new_state)
