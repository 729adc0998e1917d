"""Plain PyTorch contenders (optional: `pip install torch==2.13.0`, the CPU build).

- `run_examples`: the pytorch/examples MNIST recipe (two 3x3 convs, max-pool, Dropout,
  Dense 128, Adadelta lr 1.0 with StepLR gamma 0.7, batch 64, 14 epochs, inputs normalised
  with mean 0.1307 / std 0.3081).
- `run_fast`: the convolab `fast` recipe written by hand in PyTorch (same border crop,
  layers, optimizer, one-cycle schedule, label smoothing, batch size and epochs),
  channels-last memory format.

Both hold the data as in-memory tensors and shuffle indices each epoch (faster than
torchvision's DataLoader with per-image transforms, so the peers get the benefit of the doubt).
"""

from __future__ import annotations

import math
import os

import torch
from torch import nn
from torch.nn import functional as F

torch.set_num_threads(os.cpu_count() or 1)


def _tensors(data, mean=0.0, std=1.0, channels_last=False):
    def prep(x):
        t = torch.from_numpy(x.astype("float32") / 255).permute(0, 3, 1, 2)  # NHWC -> NCHW
        t = (t - mean) / std
        return t.contiguous(memory_format=torch.channels_last) if channels_last else t.contiguous()

    return (prep(data.x_train), torch.from_numpy(data.y_train.astype("int64")),
            prep(data.x_test), torch.from_numpy(data.y_test.astype("int64")))


def _accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum())
                      for i in range(0, len(x), 1000))
    model.train()
    return correct / len(x)


def _train(model, optimizer, loss_fn, x, y, xt, yt, *, batch_size, epochs, log,
           evals_per_epoch, after_step=None, after_epoch=None) -> int:
    """Shared loop: shuffle, step, evaluate `evals_per_epoch` times an epoch (clock paused)."""
    n = len(x)
    steps = math.ceil(n / batch_size)
    marks = {round(steps * k / evals_per_epoch) for k in range(1, evals_per_epoch)}
    log.clock.start()
    for epoch in range(epochs):
        order = torch.randperm(n)
        for step in range(steps):
            idx = order[step * batch_size:(step + 1) * batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x[idx]), y[idx]).backward()
            optimizer.step()
            if after_step:
                after_step()
            if step + 1 in marks:
                log.record(epoch * n + (step + 1) * batch_size,
                           epoch + (step + 1) / steps, lambda: _accuracy(model, xt, yt))
        if after_epoch:
            after_epoch()
        log.record((epoch + 1) * n, epoch + 1, lambda: _accuracy(model, xt, yt))
        if log.reached_stop():
            log.clock.pause()
            return epoch + 1
    log.clock.pause()
    return epochs


class ExamplesNet(nn.Module):
    """pytorch/examples mnist/main.py `Net`."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        return F.log_softmax(self.fc2(x), dim=1)


def run_examples(data, seed, log, evals_per_epoch, max_epochs):
    torch.manual_seed(seed)
    x, y, xt, yt = _tensors(data, mean=0.1307, std=0.3081)
    model = ExamplesNet()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    return _train(model, optimizer, F.nll_loss, x, y, xt, yt, batch_size=64,
                  epochs=min(14, max_epochs or 14), log=log, evals_per_epoch=evals_per_epoch,
                  after_epoch=scheduler.step)


class Crop(nn.Module):
    """Cut `px` pixels off every border of an (N, C, H, W) batch, as Keras' Cropping2D."""

    def __init__(self, px: int):
        super().__init__()
        self.px = px

    def forward(self, x):
        return x[:, :, self.px:x.shape[2] - self.px, self.px:x.shape[3] - self.px]


def fast_net(crop: int = 0, size: int = 28) -> nn.Module:
    """The layers of convolab's `fast` model preset (src/convolab/models/presets/fast.yaml)
    on `size`x`size` images with `crop` px cut off each border, with Keras' initialisation
    (Glorot-uniform kernels, zero biases)."""
    side = (size - 2 * crop - 5) // 2 + 1 - 2     # after the stride-2 5x5 and the 3x3 conv
    net = nn.Sequential(
        Crop(crop),
        nn.Conv2d(1, 16, 5, stride=2), nn.ReLU(),            # 24x24 crop -> (N, 16, 10, 10)
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),    # (N, 32, 4, 4)
        nn.Flatten(), nn.Linear(32 * (side // 2) ** 2, 128), nn.ReLU(), nn.Linear(128, 10))
    for layer in net:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return net


def one_cycle(step: int, total: int, lr: float, warmup=0.25, div_start=25.0, div_end=1e4):
    """convolab's one-cycle schedule (schedules.OneCycle), as a plain function of the step."""
    warm = max(1.0, warmup * total)
    start, end = lr / div_start, lr / div_end
    if step < warm:
        return start + (lr - start) * (1 - math.cos(math.pi * step / warm)) / 2
    down = min(1.0, (step - warm) / max(1.0, total - warm))
    return end + (lr - end) * (1 + math.cos(math.pi * down)) / 2


def run_fast(data, seed, log, evals_per_epoch, max_epochs):
    """convolab's `fast` config preset (epochs, batch, lr, label smoothing) in plain PyTorch."""
    from convolab.config import resolve_config

    config = resolve_config(preset="fast")
    t = config.train
    torch.manual_seed(seed)
    x, y, xt, yt = _tensors(data, channels_last=True)
    model = fast_net(config.model.crop, x.shape[-1]).to(memory_format=torch.channels_last)
    epochs = min(t.epochs, max_epochs or t.epochs)
    total = math.ceil(len(x) / t.batch_size) * epochs
    optimizer = torch.optim.Adam(model.parameters(), lr=one_cycle(0, total, t.lr), eps=1e-7)
    step = {"n": 0}

    def next_lr():
        step["n"] += 1
        for group in optimizer.param_groups:
            group["lr"] = one_cycle(step["n"], total, t.lr)

    loss_fn = nn.CrossEntropyLoss(label_smoothing=t.label_smoothing)
    return _train(model, optimizer, loss_fn, x, y, xt, yt, batch_size=t.batch_size,
                  epochs=epochs, log=log, evals_per_epoch=evals_per_epoch, after_step=next_lr)
