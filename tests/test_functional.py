"""The functional API for chains: the tutorial's lines run, the model equals its Sequential twin
(same weights after the same training), the summary lists the InputLayer as Keras does, and any
graph that is not a chain is refused naming the layer."""
import copy
import re

import numpy as np
import pytest

import fastmlp as keras
from fastmlp import layers, models, optimizers


def test_the_tutorial_lines_run(rng):
    input_tensor = layers.Input(shape=(784,))
    x = layers.Dense(32, activation="relu")(input_tensor)
    output_tensor = layers.Dense(10, activation="softmax")(x)
    model = models.Model(inputs=input_tensor, outputs=output_tensor)
    assert x.shape == (None, 32) and output_tensor.shape == (None, 10)
    with pytest.warns(DeprecationWarning):
        model.compile(optimizer=optimizers.RMSprop(lr=0.001), loss="mse", metrics=["accuracy"])
    x_train = rng.random((64, 784)).astype(np.float32)
    y_train = keras.utils.to_categorical(rng.integers(0, 10, 64), 10)
    history = model.fit(x_train, y_train, epochs=2, batch_size=16, verbose=0)
    assert len(history.history["accuracy"]) == 2 and model.count_params() == 25_450


def test_functional_and_sequential_train_to_the_same_weights(rng):
    x = rng.random((96, 12)).astype(np.float32)
    y = rng.integers(0, 3, 96)
    weights = []
    for build in ("functional", "sequential"):
        keras.utils.set_random_seed(8)
        if build == "functional":
            inp = keras.Input(shape=(12,))
            out = keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(7, activation="tanh")(inp))
            model = keras.Model(inputs=inp, outputs=out)
        else:
            model = keras.Sequential([keras.Input(shape=(12,)), keras.layers.Dense(7, activation="tanh"),
                                      keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=3, batch_size=16, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_summary_has_the_input_layer_row():
    inp = keras.Input(shape=(784,), name="pixels")
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax", name="out")(
        keras.layers.Dense(100, activation="relu", name="hidden")(inp)), name="mnist_dnn")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert text.splitlines()[0] == 'Model: "mnist_dnn"'
    assert re.search(r"│ pixels \(InputLayer\)\s+│ \(None, 784\)\s+│\s+0 │", text)
    assert re.search(r"│ hidden \(Dense\)\s+│ \(None, 100\)\s+│\s+78,500 │", text)
    assert " Total params: 79,510 (310.59 KB)" in text
    assert [l.name for l in model.layers] == ["pixels", "hidden", "out"]


def test_flatten_in_a_chain_and_copies_stay_functional(rng, tmp_path):
    inp = keras.Input(shape=(4, 3))
    out = keras.layers.Dense(2)(keras.layers.Flatten()(inp))
    model = keras.Model(inputs=[inp], outputs=[out])
    x = rng.random((5, 4, 3)).astype(np.float32)
    for clone in (copy.deepcopy(model), keras.models.load_model(_saved(model, tmp_path))):
        assert type(clone).__name__ == "Functional" and len(clone.layers) == 3
        np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))


def _saved(model, tmp_path):
    path = tmp_path / "f.fastmlp"
    model.save(path)
    return path


def test_graphs_that_are_not_chains_are_refused():
    inp = keras.Input(shape=(4,))
    shared = keras.layers.Dense(4)
    shared(inp)
    with pytest.raises(NotImplementedError, match="'dense' is called a second time"):
        shared(inp)
    other = keras.Input(shape=(4,))
    with pytest.raises(NotImplementedError, match="2 inputs and one output|one input and one output"):
        keras.Model(inputs=[inp, other], outputs=keras.layers.Dense(1)(inp))
    with pytest.raises(NotImplementedError, match="called on 2 tensors"):
        keras.layers.Dense(1)([inp, other])
    with pytest.raises(ValueError, match="does not come from"):
        keras.Model(inputs=inp, outputs=keras.layers.Dense(1)(other))
    with pytest.raises(TypeError, match="build a model and call it"):
        keras.layers.Dense(1)(np.ones((2, 4)))
    with pytest.raises(TypeError, match="symbolic tensors"):
        keras.Model(inputs=np.ones(3), outputs=np.ones(3))


def test_chains_with_dropout_and_batch_norm_train_as_their_sequential_twin(rng, tmp_path):
    x = rng.random((96, 12)).astype(np.float32)
    y = rng.integers(0, 3, 96)
    weights = []
    for build in ("functional", "sequential"):
        keras.utils.set_random_seed(8)
        layers = [keras.layers.Dense(16), keras.layers.BatchNormalization(), keras.layers.Activation("relu"),
                  keras.layers.Dropout(0.25), keras.layers.Dense(3, activation="softmax")]
        if build == "functional":
            inp = keras.Input(shape=(12,))
            out = inp
            for layer in layers:
                out = layer(out)
            model = keras.Model(inputs=inp, outputs=out)
        else:
            model = keras.Sequential([keras.Input(shape=(12,)), *layers])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=3, batch_size=16, verbose=0)
        weights.append(model.get_weights())
    assert len(weights[0]) == 2 + 4 + 2
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
