"""PyTorch eager references (the project venv's torch 2.13): the seed recipe, test-set evaluation,
and the Keras mnist_convnet trained until test accuracy first reaches 99.0%. On the CPU, or on
the GPU with BENCH_DEVICE=cuda (data and model then live on the GPU, and timings wait for it).

    python bench/torch_ref.py seed [--epochs N] | eval [--model mlp|cnn] | convnet [--epochs N]
"""
import argparse
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")  # torch runs without numpy here

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from common import TRAIN_COUNT, device_name, emit, idx_bytes, log, median, now, threads  # noqa: E402

DEVICE = torch.device(device_name())


def load():
    """All four files as tensors: images [n, 1, 28, 28] float in [0, 1], labels int64."""
    def images(name):
        data, dims = idx_bytes(name)
        return torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dims[0], 1, 28, 28).float() / 255

    def labels(name):
        data, _ = idx_bytes(name)
        return torch.frombuffer(bytearray(data), dtype=torch.uint8).long()

    tensors = images("train_x"), labels("train_y"), images("test_x"), labels("test_y")
    return tuple(t.to(DEVICE) for t in tensors)


def synced_now():
    """now(), once the GPU (if any) has finished the work queued so far."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
    return now()


def seed_mlp():
    """Flatten, Dense 128 ReLU, Dropout 0.2, Dense 10 (logits)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))


def keras_convnet():
    """keras-io's mnist_convnet: conv 32, pool, conv 64, pool, flatten, dropout 0.5, dense 10."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10),
    )


def train_epoch(model, opt, x, y, batch):
    """One shuffled pass; returns seconds."""
    start = synced_now()
    model.train()
    order = torch.randperm(len(x), device=DEVICE)
    for i in range(0, len(x), batch):
        idx = order[i : i + batch]
        opt.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
    return synced_now() - start


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    """pytorch/examples' test(): mean loss and accuracy in percent, batches of 1000."""
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(x), batch):
        out = model(x[i : i + batch])
        loss += F.cross_entropy(out, y[i : i + batch], reduction="sum").item()
        correct += (out.argmax(1) == y[i : i + batch]).sum().item()
    return loss / len(x), 100.0 * correct / len(x)


def run_seed(epochs):
    x, y, tx, ty = load()
    model = seed_mlp().to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    per_epoch = []
    for epoch in range(epochs):
        seconds = train_epoch(model, opt, x[:TRAIN_COUNT], y[:TRAIN_COUNT], 32)
        start = now()
        _, val_acc = evaluate(model, x[TRAIN_COUNT:], y[TRAIN_COUNT:])
        per_epoch.append(seconds + now() - start)
        log(f"torch seed epoch {epoch + 1}: {per_epoch[-1]:.2f} s, val {val_acc:.2f}%")
    _, acc = evaluate(model, tx, ty)
    return {"epoch_seconds": per_epoch, "test_accuracy": acc}


def run_eval(model_name, repeats=7):
    """Median seconds to evaluate the 10,000 test images (loss and accuracy); weights as
    initialised, since the arithmetic does not depend on their values."""
    _, _, tx, ty = load()
    model = (seed_mlp() if model_name == "mlp" else keras_convnet()).to(DEVICE)
    times = []
    for _ in range(repeats):
        start = synced_now()
        evaluate(model, tx, ty)
        times.append(synced_now() - start)
    return {"model": model_name, "eval_seconds": median(times)}


def run_convnet(max_epochs):
    x, y, tx, ty = load()
    model = keras_convnet().to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    elapsed, reached, accs = 0.0, None, []
    for epoch in range(max_epochs):
        elapsed += train_epoch(model, opt, x[:TRAIN_COUNT], y[:TRAIN_COUNT], 128)
        _, acc = evaluate(model, tx, ty)
        accs.append(acc)
        log(f"torch convnet epoch {epoch + 1}: {elapsed:.1f} s of training, test {acc:.2f}%")
        if acc >= 99.0:
            reached = elapsed
            break
    return {"seconds_to_99": reached, "epochs": len(accs), "train_seconds": elapsed, "test_accuracies": accs}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=["seed", "eval", "convnet"])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(threads())
    if args.task == "seed":
        result = run_seed(args.epochs or 5)
    elif args.task == "eval":
        result = run_eval(args.model)
    else:
        result = run_convnet(args.epochs or 15)
    emit({"framework": "pytorch", "task": args.task, "threads": torch.get_num_threads(), "device": DEVICE.type,
          "torch": torch.__version__, **result})


if __name__ == "__main__":
    main()
