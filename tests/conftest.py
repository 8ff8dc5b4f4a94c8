"""Fixtures for every test: each starts from the same random state."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(1234)
