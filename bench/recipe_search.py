"""Recipe search for the deep CNN, in PyTorch on one GPU with several worker processes.

The engine's `deep_cnn` and its training are mirrored (tch's initialisation, one-cycle Adam, the
random affine augmentation); each variant in CONFIGS is trained with several seeds on the first
54,000 training images, and its test accuracy is printed per run (one view, and averaged over the
image and its four one-pixel shifts), then summarised per variant with its cost in convolution
multiply-adds relative to the old 12-epoch recipe. Exploration only: a chosen recipe is then
measured with ./mnist on the CPU. This is how the recipe in docs/mnist-command.md ("The best recipe") was found:

    SEARCH_SEEDS=3 SEARCH_PROCS=12 SEARCH_ONLY=base12,ls_wd python3 bench/recipe_search.py

(SEARCH_DEVICE=cpu and SEARCH_LIMIT=600 make a quick check without a GPU.)
"""

import json
import math
import os
import statistics
import time

import torch
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

from common import read_idx

DATA = os.environ.get("MNIST_DATA_DIR", "data/mnist")


def load(dev):
    def idx(name):
        values, dims = read_idx(os.path.join(DATA, name))
        return torch.frombuffer(bytearray(values), dtype=torch.uint8), dims

    x, d = idx("train-images-idx3-ubyte")
    y, _ = idx("train-labels-idx1-ubyte")
    tx, td = idx("t10k-images-idx3-ubyte")
    ty, _ = idx("t10k-labels-idx1-ubyte")
    x = x.view(d[0], 1, 28, 28).float().div(255)
    tx = tx.view(td[0], 1, 28, 28).float().div(255)
    n = int(os.environ.get("SEARCH_LIMIT", 54000))
    return (x[:n].to(dev), y[:n].long().to(dev), tx[:n].to(dev), ty[:n].long().to(dev))


def kaiming(m):
    for mod in m.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(mod.weight, nonlinearity="relu")
            if mod.bias is not None:
                b = 1 / math.sqrt(
                    mod.weight.shape[1] if isinstance(mod, nn.Linear) else mod.weight[0].numel()
                )
                nn.init.uniform_(mod.bias, -b, b) if isinstance(mod, nn.Linear) else nn.init.zeros_(mod.bias)
    return m


def net(c):
    c1, c2, c3 = c.get("c1", 32), c.get("c2", 64), c.get("c3", 64)
    layers = [
        nn.Conv2d(1, c1, 5, 2, 2, bias=False),
        nn.BatchNorm2d(c1),
        nn.ReLU(),
        nn.Conv2d(c1, c2, 3, 1, 1, bias=False),
        nn.BatchNorm2d(c2),
        nn.ReLU(),
        nn.Conv2d(c2, c3, 3, 2, 1, bias=False),
        nn.BatchNorm2d(c3),
        nn.ReLU(),
    ]
    if c.get("extra"):
        layers += [nn.Conv2d(c3, c3, 3, 1, 1, bias=False), nn.BatchNorm2d(c3), nn.ReLU()]
    layers += [nn.Flatten(), nn.Dropout(c.get("drop", 0.2)), nn.Linear(c3 * 49, 10)]
    return kaiming(nn.Sequential(*layers))


def macs(c):
    c1, c2, c3 = c.get("c1", 32), c.get("c2", 64), c.get("c3", 64)
    m = 196 * c1 * 25 + 196 * c2 * c1 * 9 + 49 * c3 * c2 * 9 + 490 * c3 / 10 * 49 / 49
    if c.get("extra"):
        m += 49 * c3 * c3 * 9
    return m


def augment(x, c, g):
    n = x.shape[0]

    def u(lim):
        return (torch.rand(n, device=x.device, generator=g) * 2 - 1) * lim

    deg, sc, sh = c.get("aug", (10, 0.1, 2))
    a = u(deg * math.pi / 180)
    s = u(sc) + 1
    sx = u(2 * sh / 28)
    sy = u(2 * sh / 28)
    cos, sin = a.cos() / s, a.sin() / s
    theta = torch.stack([torch.stack([cos, -sin, sx], 1), torch.stack([sin, cos, sy], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def one_cycle(peak, step, total, pct=0.25):
    up = int(pct * total)
    if step < up:
        t = step / max(up, 1)
        lo, hi = peak / 25, peak
    else:
        t = (step - up) / max(total - up, 1)
        lo, hi = peak, peak / 25 / 1e4
    return hi + (lo - hi) * (1 + math.cos(math.pi * t)) / 2


@torch.no_grad()
def probs(model, x, tta):
    model.eval()
    out = []
    for i in range(0, len(x), 2000):
        b = x[i : i + 2000]
        p = F.softmax(model(b), 1)
        if tta:
            for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                p = p + F.softmax(model(torch.roll(b, (dy, dx), (2, 3))), 1)
        out.append(p)
    return torch.cat(out)


def train_one(c, seed, data):
    x, y, tx, ty = data
    torch.manual_seed(seed)
    g = torch.Generator(device=x.device)
    g.manual_seed(seed + 1)
    model = net(c).to(x.device).to(memory_format=torch.channels_last)
    ema = (
        torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(c["ema"]), use_buffers=True
        )
        if c.get("ema")
        else None
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    bs, epochs, peak = c.get("bs", 128), c.get("epochs", 12), c.get("lr", 6e-3)
    steps = math.ceil(len(x) / bs) * epochs
    step = 0
    ls = c.get("ls", 0.0)
    wd = c.get("wd", 0.0)
    for ep in range(epochs):
        model.train()
        order = torch.randperm(len(x), device=x.device, generator=g)
        xa = augment(x[order], c, g) if c.get("aug", True) is not None else x[order]
        ya = y[order]
        for i in range(0, len(x), bs):
            lr = one_cycle(peak, step, steps)
            for pg in opt.param_groups:
                pg["lr"] = lr
            loss = F.cross_entropy(model(xa[i : i + bs]), ya[i : i + bs], label_smoothing=ls)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if wd:
                with torch.no_grad():
                    for p in model.parameters():
                        if p.dim() > 1:
                            p.mul_(1 - lr * wd)
            opt.step()
            step += 1
            if ema is not None:
                ema.update_parameters(model)
    final = ema.module if ema is not None else model
    return probs(final, tx, False), probs(final, tx, True)


def worker(jobs, results, dev):
    torch.backends.cudnn.benchmark = True
    data = load(dev)
    while True:
        job = jobs.get()
        if job is None:
            break
        name, c, seed = job
        t = time.time()
        try:
            members = []
            for k in range(c.get("ensemble", 1)):
                members.append(train_one(c, seed * 100 + k, data))
            p = sum(m[0] for m in members)
            pt = sum(m[1] for m in members)
            ty = data[3]
            acc = (p.argmax(1) == ty).float().mean().item() * 100
            acct = (pt.argmax(1) == ty).float().mean().item() * 100
            results.put((name, seed, acc, acct, time.time() - t, None))
        except Exception as e:  # noqa
            results.put((name, seed, None, None, time.time() - t, repr(e)))


BASE = {"epochs": 12}
CONFIGS = {
    "base12": {},
    "ls": {"ls": 0.1},
    "ls_ema": {"ls": 0.1, "ema": 0.999},
    "ls_drop3": {"ls": 0.1, "drop": 0.3},
    "ls_aug15": {"ls": 0.1, "aug": (15, 0.15, 3)},
    "ls_aug8": {"ls": 0.1, "aug": (8, 0.08, 1.5)},
    "ls_lr1e2": {"ls": 0.1, "lr": 1e-2},
    "ls_lr4e3": {"ls": 0.1, "lr": 4e-3},
    "ls_wd": {"ls": 0.1, "wd": 0.05},
    "ls_c2_48_e15": {"ls": 0.1, "c2": 48, "epochs": 15},
    "ls_c3_128_e10": {"ls": 0.1, "c3": 128, "epochs": 10},
    "ls_bs256_lr8e3": {"ls": 0.1, "bs": 256, "lr": 8e-3},
    "ls_ens2_e6": {"ls": 0.1, "ensemble": 2, "epochs": 6},
    "ls_extra_e10": {"ls": 0.1, "extra": True, "epochs": 10},
    "extra_wd_e10": {"ls": 0.1, "extra": True, "wd": 0.05, "epochs": 10},
    "extra_wd_e15": {"ls": 0.1, "extra": True, "wd": 0.05, "epochs": 15},
    "extra_wd_e20": {"ls": 0.1, "extra": True, "wd": 0.05, "epochs": 20},
    "extra_wd_e30": {"ls": 0.1, "extra": True, "wd": 0.05, "epochs": 30},
    "wd_e20": {"ls": 0.1, "wd": 0.05, "epochs": 20},
    "wd_e30": {"ls": 0.1, "wd": 0.05, "epochs": 30},
    "extra96_wd_e15": {"ls": 0.1, "extra": True, "c3": 96, "wd": 0.05, "epochs": 15},
    "extra_wd_lr1e2_e15": {"ls": 0.1, "extra": True, "wd": 0.05, "lr": 1e-2, "epochs": 15},
}


def main():
    seeds = int(os.environ.get("SEARCH_SEEDS", 4))
    nproc = int(os.environ.get("SEARCH_PROCS", 12))
    budget = float(os.environ.get("SEARCH_SECONDS", 240))
    names = [n for n in os.environ.get("SEARCH_ONLY", ",".join(CONFIGS)).split(",") if n]
    ctx = mp.get_context("spawn")
    jobs, results = ctx.Queue(), ctx.Queue()
    todo = [(n, {**BASE, **CONFIGS[n]}, s) for s in range(seeds) for n in names]
    for j in todo:
        jobs.put(j)
    for _ in range(nproc):
        jobs.put(None)
    procs = [
        ctx.Process(target=worker, args=(jobs, results, os.environ.get("SEARCH_DEVICE", "cuda")))
        for _ in range(nproc)
    ]
    for p in procs:
        p.start()
    start = time.time()
    got = []
    while len(got) < len(todo) and time.time() - start < budget:
        try:
            r = results.get(timeout=5)
        except Exception:
            continue
        got.append(r)
        print(
            json.dumps(
                {"name": r[0], "seed": r[1], "acc": r[2], "tta": r[3], "s": round(r[4], 1), "err": r[5]}
            ),
            flush=True,
        )
    for p in procs:
        p.terminate()
    print(f"# {len(got)}/{len(todo)} runs in {time.time() - start:.0f} s")
    base_cost = macs({}) * 12
    for n in names:
        rs = [r for r in got if r[0] == n and r[2] is not None]
        if not rs:
            continue
        c = {**BASE, **CONFIGS[n]}
        cost = macs(c) * c["epochs"] * c.get("ensemble", 1) / base_cost
        a = [r[2] for r in rs]
        t = [r[3] for r in rs]
        print(
            f"{n:18s} cost {cost:.2f}  n={len(rs)}  plain mean {statistics.mean(a):.3f} min {min(a):.2f}  "
            f"tta mean {statistics.mean(t):.3f} min {min(t):.2f}  ({statistics.mean(r[4] for r in rs):.0f} s/run)"
        )


if __name__ == "__main__":
    main()
