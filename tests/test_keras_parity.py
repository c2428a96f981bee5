"""fastmlp against Keras itself, where Keras is installed (`pip install ".[test,parity]"`): the same
weights give the same outputs, losses and optimizer steps, and the same parameter counts."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
real_keras = pytest.importorskip("keras", reason="Keras is not installed; these tests compare with it when it is")

import fastmlp  # noqa: E402 (after the skip: these tests need Keras)

OPTIMIZERS = [("adam", {}), ("rmsprop", {"momentum": 0.5}), ("sgd", {"momentum": 0.9, "nesterov": True}),
              ("adagrad", {})]


def _pair(rng, hidden_activation="relu"):
    k = real_keras.Sequential([real_keras.Input(shape=(12,)),
                               real_keras.layers.Dense(7, activation=hidden_activation),
                               real_keras.layers.Dense(4, activation="softmax")])
    f = fastmlp.Sequential([fastmlp.layers.Dense(7, activation=hidden_activation, input_shape=(12,)),
                            fastmlp.layers.Dense(4, activation="softmax")])
    f.set_weights(k.get_weights())
    return k, f


def test_same_weights_same_predictions_and_loss(rng):
    k, f = _pair(rng, "tanh")
    x = rng.standard_normal((50, 12)).astype(np.float32)
    y = rng.integers(0, 4, 50)
    np.testing.assert_allclose(f.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    k.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    f.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    np.testing.assert_allclose(f.evaluate(x, y, verbose=0), k.evaluate(x, y, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_training_steps_match_keras(rng, name, kwargs):
    k, f = _pair(rng)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    y = rng.integers(0, 4, 64)
    k_opt = getattr(real_keras.optimizers, {"adam": "Adam", "rmsprop": "RMSprop", "sgd": "SGD", "adagrad": "Adagrad"}[name])(**kwargs)
    f_opt = getattr(fastmlp.optimizers, type(k_opt).__name__)(**kwargs)
    k.compile(optimizer=k_opt, loss="sparse_categorical_crossentropy")
    f.compile(optimizer=f_opt, loss="sparse_categorical_crossentropy")
    hk = k.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    hf = f.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for got, want in zip(f.get_weights(), k.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hf.history["loss"], hk.history["loss"], rtol=1e-4)


def test_parameter_counts_match_keras():
    k = real_keras.Sequential([real_keras.Input(shape=(784,))] +
                              [real_keras.layers.Dense(u, activation="relu") for u in (300, 200, 100)] +
                              [real_keras.layers.Dense(10, activation="softmax")])
    f = fastmlp.Sequential([fastmlp.layers.Dense(300, activation="relu", input_shape=(784,))] +
                           [fastmlp.layers.Dense(u, activation="relu") for u in (200, 100)] +
                           [fastmlp.layers.Dense(10, activation="softmax")])
    assert f.count_params() == k.count_params() == 316_810
    assert [w.shape for w in f.get_weights()] == [tuple(w.shape) for w in k.get_weights()]
