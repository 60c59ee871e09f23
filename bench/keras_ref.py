"""Keras on TensorFlow (tensorflow-cpu, bench/.venv): the seed recipe as the Keras course notebook
wrote it: model.fit(batch_size=32, epochs=5, validation_split=0.1), shuffled every epoch.

    python bench/keras_ref.py seed [--epochs N]
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402

from common import emit, idx_bytes, log, now, threads  # noqa: E402


def load():
    def images(name):
        data, dims = idx_bytes(name)
        return np.frombuffer(data, dtype=np.uint8).reshape(dims[0], 28, 28).astype(np.float32) / 255.0

    def labels(name):
        data, _ = idx_bytes(name)
        return np.frombuffer(data, dtype=np.uint8).astype(np.int64)

    return images("train_x"), labels("train_y"), images("test_x"), labels("test_y")


class EpochTimer(keras.callbacks.Callback):
    """Seconds of every epoch, validation included (as mnist-bench and torch_ref count them)."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = now()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(now() - self.start)
        log(f"keras seed epoch {epoch + 1}: {self.seconds[-1]:.2f} s, val {100 * logs['val_accuracy']:.2f}%")


def run_seed(epochs):
    x, y, tx, ty = load()
    model = keras.Sequential([
        keras.layers.Input((28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10),
    ])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    timer = EpochTimer()
    model.fit(x, y, batch_size=32, epochs=epochs, validation_split=0.1, callbacks=[timer], verbose=0)
    _, acc = model.evaluate(tx, ty, batch_size=1000, verbose=0)
    return {"epoch_seconds": timer.seconds, "test_accuracy": 100.0 * acc}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=["seed"])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(threads())
    tf.config.threading.set_inter_op_parallelism_threads(threads())
    keras.utils.set_random_seed(0)
    emit({"framework": "keras", "task": args.task, "threads": threads(),
          "versions": f"tensorflow {tf.__version__}, keras {keras.__version__}", **run_seed(args.epochs)})


if __name__ == "__main__":
    main()
