"""Shared pytest configuration: the --fuzz option and the hypothesis profiles it picks, and the
`cuda` fixture (the stand-in device) of the device tests."""

import pytest

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is in the test extra; without it the property tests skip
    settings = None


def pytest_addoption(parser):
    parser.addoption(
        "--fuzz", action="store_true", default=False, help="run the property-based tests with many more examples (slow)"
    )


def pytest_configure(config):
    if settings is None:
        return
    common = dict(
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=not config.getoption("--fuzz"),
    )
    # The normal suite: a few thousand examples over all properties, derandomized so CI is
    # reproducible. --fuzz: fresh random examples, many more of them.
    settings.register_profile("chainrule-default", max_examples=200, **common)
    settings.register_profile("chainrule-fuzz", max_examples=2000, **common)
    settings.load_profile("chainrule-fuzz" if config.getoption("--fuzz") else "chainrule-default")


@pytest.fixture
def cuda():
    """The host-backed stand-in device registered as CUDA (two devices) for one test: every device
    path runs without a GPU (csrc/ops/host_device.cpp). Yields the device name, 'cuda'."""
    import chainrule as cr
    from chainrule import _core

    if _core._device_count("cuda") > 0 and not _core._host_device_is_cuda():
        pytest.skip("a CUDA backend with a GPU is registered; the stand-in cannot replace it")
    _core._use_host_device_as_cuda(2)
    try:
        yield "cuda"
    finally:
        cr.set_default_device(None)
        _core._use_host_device_as_cuda(0)
