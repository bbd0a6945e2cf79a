"""The demo is learnable but not trivial: a small CNN trained briefly on CPU separates its classes."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score
from torch import nn

from bench.labels import LABELS, parse_finding_labels

EPOCHS = 8
BATCH = 64


def _load(root):
    """Images (n, 1, 64, 64) in [0, 1], labels (n, 14) and the official test mask."""
    rows = pd.read_csv(root / "Data_Entry_2017_v2020.csv", dtype=str, keep_default_na=False)
    labels = np.zeros((len(rows), len(LABELS)), dtype=np.float32)
    for i, text in enumerate(rows["Finding Labels"]):
        for name in parse_finding_labels(text):
            labels[i, LABELS.index(name)] = 1
    ids = rows["Image Index"].tolist()
    images = np.stack([np.asarray(Image.open(root / "images" / i)) for i in ids]).astype(np.float32) / 255
    test = set((root / "test_list.txt").read_text().split())
    return torch.from_numpy(images[:, None]), torch.from_numpy(labels), np.array([i in test for i in ids])


def _small_cnn() -> nn.Module:
    def down(c_in, c_out, k=3):  # strided conv: cheap on CPU at 64 px
        conv = nn.Conv2d(c_in, c_out, k, stride=2, padding=k // 2, bias=False)
        return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU())

    return nn.Sequential(
        down(1, 16, 5),
        down(16, 32),
        down(32, 64),
        down(64, 96),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(96 * 4, len(LABELS)),
    )


def test_small_cnn_learns_the_demo(demo_root):
    """Training seeds 0-3 on one thread gave mean test AUROC 0.905-0.910 and worst classes
    0.81-0.83: the bounds below hold for each with a margin of at least 0.06."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        start = time.perf_counter()
        x, y, test = _load(demo_root)
        assert x.shape[-2:] == (64, 64)
        train = np.flatnonzero(~test)
        model = _small_cnn()
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        steps = int(np.ceil(len(train) / BATCH))
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=EPOCHS * steps)
        order = np.random.default_rng(0)
        for _ in range(EPOCHS):
            model.train()
            for batch in np.array_split(order.permutation(train), steps):
                loss = nn.functional.binary_cross_entropy_with_logits(model(x[batch]), y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
        model.eval()
        with torch.no_grad():
            scores = model(x[test]).numpy()
        elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    truth = y[test].numpy()
    auroc = {name: roc_auc_score(truth[:, k], scores[:, k]) for k, name in enumerate(LABELS)}
    mean = float(np.mean(list(auroc.values())))
    summary = f"mean {mean:.3f} in {elapsed:.0f}s: " + ", ".join(f"{n} {a:.3f}" for n, a in auroc.items())
    print(summary)
    assert mean >= 0.75, summary
    # Not trivial either: faint findings keep some classes well below perfect.
    assert mean <= 0.97, summary
    assert min(auroc.values()) < 0.9, summary
