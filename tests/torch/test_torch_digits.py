"""A short real training run: scikit-learn's digits, with and without KURE.

The full experiment is ``examples/kure_digits.py``; this is its smoke test,
a few seconds on one CPU thread.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from quanttheory.torch import KURE, SensitivityMonitor, kurtosis, robustness_sweep

sklearn_datasets = pytest.importorskip("sklearn.datasets")


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


@pytest.fixture(scope="module")
def digits():
    d = sklearn_datasets.load_digits()
    x = torch.from_numpy((d.images.astype(np.float32) / 16.0 - 0.3) / 0.4)
    y = torch.from_numpy(d.target).long()
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, y = x[perm].unsqueeze(1), y[perm]
    return (x[:1300], y[:1300]), (x[1300:], y[1300:])


def train(data, kure_weight, monitor=False, epochs=8):
    torch.manual_seed(0)
    model = TinyCNN()
    kure = KURE(weight=kure_weight)
    mon = SensitivityMonitor(model, every=40, bits=4) if monitor else None
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    x, y = data
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(128):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            if kure_weight:
                loss = loss + kure(model)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if mon is not None:
                mon.step()
    return model.eval(), mon


def accuracy(test):
    x, y = test

    def evaluate(model):
        with torch.no_grad():
            return float((model(x).argmax(1) == y).float().mean())

    return evaluate


def test_digits_training_with_and_without_kure(digits):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_set, test_set = digits
        evaluate = accuracy(test_set)
        plain, _ = train(train_set, 0.0)
        kured, mon = train(train_set, 1.0, monitor=True)
    finally:
        torch.set_num_threads(threads)
    # 8 epochs of Adam reach about 95 % on the 497 held-out digits; 0.9 leaves
    # room for platform-dependent float reductions without hiding a broken loop
    assert evaluate(plain) > 0.9
    assert evaluate(kured) > 0.9
    sel = KURE().selected(kured)
    assert sel == ["conv2.weight", "fc1.weight"]
    with torch.no_grad():
        k_plain = [float(kurtosis(getattr(plain, n.split(".")[0]).weight)) for n in sel]
        k_kure = [float(kurtosis(getattr(kured, n.split(".")[0]).weight)) for n in sel]
    # KURE with lambda = 1 pins the regularised layers to the uniform value
    assert all(abs(k - 1.8) < 0.1 for k in k_kure), k_kure
    assert all(
        abs(k - 1.8) > abs(kk - 1.8) for k, kk in zip(k_plain, k_kure, strict=True)
    )
    # the monitor saw the kurtosis move towards 1.8
    steps, ks = mon.history.series("fc1.weight")
    assert len(steps) == 2  # 8 epochs x 11 batches = 88 steps, every 40
    assert abs(ks[-1] - 1.8) < 0.1
    # post-training quantization: 8-bit weights lose nothing measurable, and
    # the sweep restores the trained weights afterwards
    before = {k: v.clone() for k, v in kured.state_dict().items()}
    res = robustness_sweep(kured, evaluate, bits=[8, 4], step_scales=[0.8, 1.0, 1.2])
    assert abs(res.select("step_scale", 8)[1].metric - res.baseline) <= 0.01
    assert min(r.metric for r in res.select("step_scale", 4)) > 0.85
    assert all(torch.equal(v, before[k]) for k, v in kured.state_dict().items())
