"""Keras parity without TensorFlow: optimizer trajectories and multi-epoch fit of the seed model
against values made once by real Keras 3 (tests/data/make_keras_golden.py wrote
tests/data/keras_golden.json). Both the compiled kernels and the NumPy reference are checked:
the reference shares the kernels' author, Keras does not."""
import json
from pathlib import Path

import numpy as np
import pytest
from data.make_keras_golden import seed_weights, trajectory_inputs

import fastmlp as keras
from fastmlp import _reference as ref

GOLDEN = json.loads((Path(__file__).parent / "data" / "keras_golden.json").read_text())


def test_the_inputs_are_those_keras_was_given():
    w0, grads = trajectory_inputs()
    np.testing.assert_array_equal(w0, np.float32(GOLDEN["trajectory_inputs"]["w0"]))
    np.testing.assert_array_equal(grads, np.float32(GOLDEN["trajectory_inputs"]["grads"]))


@pytest.mark.parametrize("key", sorted(GOLDEN["optimizers"]))
def test_compiled_optimizer_follows_keras(key):
    case = GOLDEN["optimizers"][key]
    w0, grads = trajectory_inputs()
    rule = getattr(keras.optimizers, case["class"])(**case["kwargs"]).build(w0.size, np.float32)
    w = w0.copy()
    for step, (g, want) in enumerate(zip(grads, case["path"]), start=1):
        rule.step(w, g)
        np.testing.assert_allclose(w, np.float32(want), rtol=2e-6, atol=1e-7,
                                   err_msg=f"{key}, step {step}")


def _reference_path(case, w0, grads):
    kw = case["kwargs"]
    lr = kw["learning_rate"]
    w = w0.astype(np.float64)
    a = np.zeros_like(w)
    b = np.zeros_like(w)
    if case["class"] == "Adagrad":
        a = np.full_like(w, 0.1)
    path = []
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        if case["class"] == "SGD":
            w, a = ref.sgd(w, g, a, lr, kw.get("momentum", 0.0), kw.get("nesterov", False))
        elif case["class"] == "Adagrad":
            w, a = ref.adagrad(w, g, a, lr, 1e-7)
        elif case["class"] == "RMSprop":
            w, a, b = ref.rmsprop(w, g, a, b, lr, 0.9, kw.get("momentum", 0.0), 1e-7)
        else:
            w, a, b = ref.adam(w, g, a, b, t, lr, 0.9, 0.999, 1e-7)
        path.append(w)
    return path


@pytest.mark.parametrize("key", sorted(GOLDEN["optimizers"]))
def test_reference_optimizer_follows_keras(key):
    case = GOLDEN["optimizers"][key]
    w0, grads = trajectory_inputs()
    # the float64 reference computes Adam's α without float32's cancellation in 1 − β2ᵗ
    # (4.5e-6 of α): far tighter still than any misplaced epsilon or ignored Nesterov term
    for step, (got, want) in enumerate(zip(_reference_path(case, w0, grads), case["path"]), start=1):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=f"{key}, step {step}")


@pytest.fixture(scope="module")
def fashion_subset():
    (x, y), (x_test, _) = keras.datasets.fashion_mnist.load_data()
    return x[:512] / 255, y[:512], x_test[:8] / 255


@pytest.mark.parametrize("key", sorted(GOLDEN["fit"]))
def test_seed_model_fit_follows_keras(fashion_subset, key):
    case = GOLDEN["fit"][key]
    x, y, x_test = fashion_subset
    model = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28)),
                              keras.layers.Dense(100, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.set_weights(seed_weights())
    model.compile(optimizer=getattr(keras.optimizers, case["class"])(**case["kwargs"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # fit runs each epoch in several compiled calls (slices), so this also checks that every
    # call starts at its own first step
    history = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], case["loss"], rtol=2e-5)
    np.testing.assert_allclose(history.history["accuracy"], case["accuracy"], atol=1 / 512 + 1e-9)
    weights = model.get_weights()
    squares = [float(np.sum(np.square(w, dtype=np.float64))) for w in weights]
    np.testing.assert_allclose(squares, case["weight_square_sums"], rtol=1e-4)
    sums = [float(np.sum(w, dtype=np.float64)) for w in weights]
    scale = np.sqrt([w.size * s for w, s in zip(weights, squares)])
    assert np.all(np.abs(np.subtract(sums, case["weight_sums"])) <= 1e-4 * scale)
    # Adam moves near-zero gradients by about lr·sign(g), so the summation order of oneDNN
    # against OpenBLAS shows in its predictions (4e-4) though not in its losses (2e-5)
    atol = 1e-3 if key == "adam" else 2e-5
    np.testing.assert_allclose(model.predict(x_test, verbose=0), case["test_predictions"], atol=atol)
