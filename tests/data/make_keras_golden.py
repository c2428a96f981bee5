"""Makes tests/data/keras_golden.json with real Keras: the oracle that fastmlp's kernels and its
NumPy reference (same author) are both checked against, so CI checks Keras parity without
TensorFlow.

Run once, in an environment with Keras 3 and TensorFlow (`pip install keras tensorflow-cpu`),
from the repository root:

    FASTMLP_DATA=../shared/data python tests/data/make_keras_golden.py

It does not import fastmlp. What it records:
- optimizer trajectories: a float32 vector after each of 6 `apply_gradients` steps, for every
  optimizer setting fastmlp has, with gradients spanning 1e-6..1 (so that where epsilon sits
  and whether Nesterov is applied both show);
- `fit` of the seed model (Flatten 28x28 -> Dense 100 relu -> Dense 10 softmax) on the first
  512 Fashion-MNIST training images, from weights given by a formula, batch 32, no shuffling,
  3 epochs, for Adam, RMSprop and SGD with Nesterov momentum: per-epoch loss and accuracy,
  the final weights' sums, and the predictions for the first 8 test images.
"""
import gzip
import json
import os
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("keras_golden.json")

OPTIMIZERS = {
    "sgd": ("SGD", {"learning_rate": 0.1}),
    "sgd_momentum": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    "sgd_nesterov": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    "adagrad": ("Adagrad", {"learning_rate": 0.05}),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01}),
    "rmsprop_momentum": ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5}),
    "adam": ("Adam", {"learning_rate": 0.01}),
}


def trajectory_inputs(size=12, steps=6):
    """The start vector and gradients, from formulas (no random generator to drift)."""
    i = np.arange(size, dtype=np.float64)
    w0 = np.cos(1.3 * i + 0.2)
    scales = 10.0 ** -(i % 7)  # 1, 0.1, ..., 1e-6: epsilon matters for the small ones
    grads = [np.sin(0.7 * i * (t + 1) + t) * scales for t in range(steps)]
    return w0.astype(np.float32), [g.astype(np.float32) for g in grads]


def seed_weights():
    """Initial weights of the seed model, from a formula: W[i] = limit·sin(0.37·i + k)."""
    shapes = [(784, 100), (100,), (100, 10), (10,)]
    weights = []
    for k, shape in enumerate(shapes):
        n = int(np.prod(shape))
        limit = np.sqrt(6 / (shape[0] + shape[1])) if len(shape) == 2 else 0.05
        weights.append((limit * np.sin(0.37 * np.arange(n) + k)).reshape(shape).astype(np.float32))
    return weights


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * d:8 + 4 * d], "big") for d in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fashion_subset(root):
    folder = Path(root) / "fashion-mnist"
    x = read_idx(folder / "train-images-idx3-ubyte.gz")[:512].astype(np.float32) / 255
    y = read_idx(folder / "train-labels-idx1-ubyte.gz")[:512].astype(np.int64)
    x_test = read_idx(folder / "t10k-images-idx3-ubyte.gz")[:8].astype(np.float32) / 255
    return x, y, x_test


def main():
    # imported here, so that the tests can import the input formulas without Keras
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    root = os.environ.get("FASTMLP_DATA")
    if not root:
        sys.exit("set FASTMLP_DATA to the folder holding fashion-mnist/")
    golden = {"keras_version": keras.__version__, "optimizers": {}, "fit": {}}

    w0, grads = trajectory_inputs()
    golden["trajectory_inputs"] = {"w0": w0.tolist(), "grads": [g.tolist() for g in grads]}
    for key, (cls, kwargs) in OPTIMIZERS.items():
        opt = getattr(keras.optimizers, cls)(**kwargs)
        var = keras.Variable(w0)
        path = []
        for g in grads:
            opt.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
            path.append(np.array(var).tolist())
        golden["optimizers"][key] = {"class": cls, "kwargs": kwargs, "path": path}

    x, y, x_test = fashion_subset(root)
    for key, (cls, kwargs) in {"adam": ("Adam", {}), "rmsprop": ("RMSprop", {}),
                               "sgd_nesterov": ("SGD", {"momentum": 0.9, "nesterov": True})}.items():
        model = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                                  keras.layers.Dense(100, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.set_weights(seed_weights())
        model.compile(optimizer=getattr(keras.optimizers, cls)(**kwargs),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
        golden["fit"][key] = {
            "class": cls, "kwargs": kwargs,
            "loss": [float(v) for v in history.history["loss"]],
            "accuracy": [float(v) for v in history.history["accuracy"]],
            "weight_sums": [float(np.sum(w, dtype=np.float64)) for w in model.get_weights()],
            "weight_square_sums": [float(np.sum(np.square(w, dtype=np.float64))) for w in model.get_weights()],
            "test_predictions": np.asarray(model.predict(x_test, verbose=0)).tolist(),
        }
    OUT.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
