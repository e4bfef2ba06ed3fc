"""Tests of the torch bridge, ``quanttheory.torch``.

The whole folder is skipped when PyTorch is not installed. CI installs the
CPU build with ``pip install torch==2.13.0``. CUDA tests skip themselves
when no GPU is present.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402


class SmallCNN(nn.Module):
    """Three convolutions and two linear layers, in that module order."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc1 = nn.Linear(8 * 2 * 2, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.max_pool2d(torch.relu(self.bn(self.conv3(x))), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    return SmallCNN()


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)
    )
