"""Keras parity of the activations, activation layers, Dropout and BatchNormalization without
TensorFlow: values made once by real Keras 3 (tests/data/make_keras_layers_golden.py wrote
tests/data/keras_layers_golden.json and keras_layers.keras)."""
import json
from pathlib import Path

import numpy as np
import pytest
from data.make_keras_layers_golden import ACTIVATIONS, activation_weights, chain_weights, golden_inputs

import fastmlp as keras

DATA = Path(__file__).parent / "data"
GOLDEN = json.loads((DATA / "keras_layers_golden.json").read_text())


def test_every_activation_fastmlp_has_was_checked():
    assert sorted(ACTIVATIONS) == sorted(keras.activations.NAMES) == sorted(GOLDEN["activations"])


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward_and_gradient_follow_keras(name):
    x, targets, _ = golden_inputs()
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation=name)])
    model.set_weights(activation_weights())
    case = GOLDEN["activations"][name]
    np.testing.assert_allclose(model.predict(x, verbose=0), np.float32(case["predictions"]),
                               rtol=2e-6, atol=2e-6)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, targets, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), case["weights_after_step"]):
        np.testing.assert_allclose(got, np.float32(want), rtol=1e-5, atol=1e-6, err_msg=name)


def _chain(rate):
    return keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(8), keras.layers.BatchNormalization(momentum=0.9),
        keras.layers.Dropout(rate), keras.layers.Dense(4), keras.layers.LeakyReLU(),
        keras.layers.Dense(3, activation="softmax")])


def test_batch_norm_and_dropout_predict_as_keras():
    x, _, _ = golden_inputs()
    model = _chain(0.3)
    model.set_weights(chain_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), np.float32(GOLDEN["chain_predictions"]),
                               rtol=1e-5, atol=1e-6)


def test_batch_norm_trains_as_keras():
    # batch statistics forward, their gradient backward, Keras's moving-average update
    x, _, labels = golden_inputs()
    model = _chain(0.0)
    model.set_weights(chain_weights())
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    history = model.fit(x, labels, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(GOLDEN["chain_fit"]["loss"], rel=1e-5)
    names = ["kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance", "kernel_1",
             "bias_1", "kernel_2", "bias_2"]
    for name, got, want in zip(names, model.get_weights(), GOLDEN["chain_fit"]["weights"]):
        np.testing.assert_allclose(got, np.float32(want), rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_keras_file_with_these_layers_loads_and_predicts_as_keras():
    x, _, _ = golden_inputs()
    model = keras.models.load_model(DATA / "keras_layers.keras")
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense", "BatchNormalization", "Dropout", "Dense", "LeakyReLU", "Dense"]
    assert model.layers[1].momentum == 0.9 and model.layers[2].rate == 0.3
    assert model.layers[4].negative_slope == pytest.approx(0.3)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.float32(GOLDEN["chain_predictions"]),
                               rtol=1e-5, atol=1e-6)


def test_penalties_constraints_and_frozen_layers_train_as_keras():
    from data.make_keras_layers_golden import regularized_chain, regularized_weights
    x, _, labels = golden_inputs()
    model = regularized_chain(keras)
    model.set_weights(regularized_weights())
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    # the loss includes every penalty: weights', and outputs' divided by the batch size
    assert model.evaluate(x, labels, batch_size=16, verbose=0) == pytest.approx(GOLDEN["regularized_evaluate"], rel=1e-5)
    history = model.fit(x, labels, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(GOLDEN["regularized_fit"]["loss"], rel=1e-5)
    for i, (got, want) in enumerate(zip(model.get_weights(), GOLDEN["regularized_fit"]["weights"])):
        np.testing.assert_allclose(got, np.float32(want), rtol=1e-5, atol=1e-6, err_msg=f"weight {i}")
    frozen = model.layers[1].get_weights()
    np.testing.assert_array_equal(frozen[0], regularized_weights()[2])


@pytest.mark.parametrize("case", ["sample_weight", "class_weight", "class_weight_one_hot"])
def test_sample_and_class_weights_follow_keras(case):
    from data.make_keras_layers_golden import weighted_weights
    x, _, labels = golden_inputs()
    sample_weight = (np.arange(32) % 5 * 0.5).astype(np.float32)
    loss, y = (("categorical_crossentropy", np.eye(3, dtype=np.float32)[labels]) if case.endswith("one_hot")
               else ("sparse_categorical_crossentropy", labels))
    kwargs = {"sample_weight": sample_weight} if case == "sample_weight" else {"class_weight": {0: 0.5, 1: 2.0, 2: 1.5}}
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    model.set_weights(weighted_weights())
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    want = GOLDEN["weighted"][case]
    assert model.evaluate(x, y, batch_size=8, sample_weight=sample_weight, verbose=0) == pytest.approx(want["evaluate"], rel=1e-5)
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, **kwargs)
    assert history.history["loss"][0] == pytest.approx(want["loss"], rel=1e-5)
    for got, expected in zip(model.get_weights(), want["weights"]):
        np.testing.assert_allclose(got, np.float32(expected), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["one_hot", "sparse"])
def test_several_metrics_are_named_ordered_and_valued_as_keras(case):
    from data.make_keras_layers_golden import metric_cases, weighted_weights
    x, _, labels = golden_inputs()
    _, loss, y, metrics = next(c for c in metric_cases(keras, labels) if c[0] == case)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    model.set_weights(weighted_weights())
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, metrics=metrics)
    want = GOLDEN["metrics"][case]
    evaluated = model.evaluate(x, y, batch_size=8, verbose=0)
    if case == "one_hot":  # (Keras's list repeats values when metric names repeat; its dict does not)
        np.testing.assert_allclose(evaluated, want["evaluate"], rtol=1e-5)
    assert evaluated[0] == pytest.approx(want["evaluate"][0], rel=1e-5)
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, validation_data=(x, y))
    assert list(history.history) == list(want["history"])
    for key, values in want["history"].items():
        assert history.history[key][0] == pytest.approx(values[0], rel=1e-5, abs=1e-7), key
