"""Building the compiled kernels (rnnlab.nn.kernels): switched off by the environment, and a failed build leaves
the Python paths with one warning rather than an error."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.utils.cpp_extension

import rnnlab
import rnnlab.nn.kernels as kernels


@pytest.fixture
def fresh(monkeypatch):
    """An empty build cache for the test, the real one restored after it."""
    monkeypatch.setattr(kernels, "_loaded", {})


def test_switched_off_by_the_environment(fresh, monkeypatch):
    monkeypatch.setenv("RNNLAB_KERNELS", "0")
    assert kernels.compiled_kernels() is None


def test_a_failed_build_warns_once_and_the_lstm_still_runs(fresh, monkeypatch, caplog):
    def failing(**_):
        raise RuntimeError("Error building extension 'rnnlab_kernels'\nthe compiler stopped")

    monkeypatch.delenv("RNNLAB_KERNELS", raising=False)
    monkeypatch.setattr(torch.utils.cpp_extension, "load", failing)
    with caplog.at_level(logging.WARNING, logger="rnnlab.nn.kernels"):
        assert kernels.compiled_kernels() is None
        assert kernels.compiled_kernels() is None
    assert [r.getMessage() for r in caplog.records] == [
        "rnnlab: the compiled recurrent kernels could not be built (the compiler stopped); the fused LSTM runs in "
        "Python, the other cells step"]
    torch.manual_seed(0)
    reference = torch.nn.LSTM(3, 4, dtype=torch.float64)
    ours = rnnlab.LSTM(3, 4, engine="unrolled", dtype=torch.float64)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], reference(x)[0], rtol=0, atol=1e-12)


def test_without_a_compiler(fresh, monkeypatch):
    monkeypatch.delenv("RNNLAB_KERNELS", raising=False)
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    assert kernels.compiled_kernels() is None
