"""Layers and initializers: Keras's signatures, shapes, defaults, names and errors."""
import numpy as np
import pytest

import fastmlp as keras


def test_dense_defaults_and_param_count():
    layer = keras.layers.Dense(100)
    assert layer.name == "dense" and keras.layers.Dense(3).name == "dense_1"
    assert layer.activation is keras.activations.linear and layer.use_bias
    assert isinstance(layer.kernel_initializer, keras.initializers.GlorotUniform)
    assert isinstance(layer.bias_initializer, keras.initializers.Zeros)
    layer.build((784,))
    assert layer.kernel.shape == (784, 100) and layer.kernel.dtype == np.float32
    assert layer.count_params() == 78_500
    np.testing.assert_array_equal(layer.bias, 0)
    limit = np.sqrt(6 / (784 + 100))
    assert np.abs(layer.kernel).max() <= limit and np.abs(layer.kernel).max() > 0.95 * limit


def test_dense_input_dim_and_callable_activation():
    layer = keras.layers.Dense(4, activation=keras.activations.relu, input_dim=7, use_bias=False)
    assert layer._input_shape == (7,) and layer.activation_name == "relu"
    layer.build((7,))
    assert len(layer.get_weights()) == 1 and layer.count_params() == 28


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(units=0), ValueError, "units=0"),
    (dict(units=2.5), ValueError, "units=2.5"),
    (dict(units=3, activation="swish2"), ValueError, "activation='swish2'"),
    (dict(units=3, kernel_initializer="bogus"), ValueError, "bogus"),
    (dict(units=3, bogus=1), TypeError, "bogus"),
    (dict(units=3, input_shape=(0,)), ValueError, "input_shape"),
    (dict(units=3, kernel_regularizer="l2"), ValueError, "kernel_regularizer"),
])
def test_dense_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras.layers.Dense(**kwargs)


def test_flatten_and_input():
    flat = keras.layers.Flatten(input_shape=[28, 28])
    flat.build((28, 28))
    assert flat.output_shape == (784,) and flat.count_params() == 0
    inp = keras.Input(shape=(5,))
    assert inp.shape == (None, 5) and inp.dtype == "float32"  # a symbolic tensor, as Keras 3
    with pytest.raises(ValueError, match="shape"):
        keras.layers.Input()


def test_dense_on_rank_two_samples_asks_for_flatten():
    layer = keras.layers.Dense(3)
    with pytest.raises(ValueError, match="Flatten"):
        layer.build((28, 28))


@pytest.mark.parametrize("name,limit", [
    ("glorot_uniform", lambda fi, fo: np.sqrt(6 / (fi + fo))),
    ("he_uniform", lambda fi, fo: np.sqrt(6 / fi)),
    ("lecun_uniform", lambda fi, fo: np.sqrt(3 / fi)),
    ("uniform", lambda fi, fo: 0.05),
])
def test_uniform_initializers_limits(name, limit):
    values = keras.initializers.get(name)((400, 300))
    bound = limit(400, 300)
    assert values.dtype == np.float32
    assert np.abs(values).max() <= bound
    # U(-a, a) has standard deviation a/√3
    assert values.std() == pytest.approx(bound / np.sqrt(3), rel=0.02)


@pytest.mark.parametrize("name,stddev", [
    ("glorot_normal", lambda fi, fo: np.sqrt(2 / (fi + fo))),
    ("he_normal", lambda fi, fo: np.sqrt(2 / fi)),
    ("lecun_normal", lambda fi, fo: np.sqrt(1 / fi)),
])
def test_truncated_normal_initializers(name, stddev):
    values = keras.initializers.get(name)((400, 300), dtype="float64")
    target = stddev(400, 300)
    assert values.std() == pytest.approx(target, rel=0.02)
    # truncated at two standard deviations of the untruncated draw
    assert np.abs(values).max() <= 2 * target / 0.87962566103423978 + 1e-12


def test_normal_zeros_ones_and_seeded_initializers():
    values = keras.initializers.get("normal")((300, 300))
    assert values.std() == pytest.approx(0.05, rel=0.02) and abs(values.mean()) < 0.002
    np.testing.assert_array_equal(keras.initializers.get("zeros")((2, 3)), 0)
    np.testing.assert_array_equal(keras.initializers.get("ones")((2, 3)), 1)
    a = keras.initializers.GlorotUniform(seed=3)((5, 4))
    b = keras.initializers.GlorotUniform(seed=3)((5, 4))
    np.testing.assert_array_equal(a, b)


def test_activation_callables():
    x = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_allclose(keras.activations.relu(x), [[0, 0, 2]])
    np.testing.assert_allclose(keras.activations.softmax(x).sum(), 1.0)
    np.testing.assert_allclose(keras.activations.sigmoid(0.0), 0.5)
    assert keras.activations.get(None) is keras.activations.linear


def test_set_weights_checks_shapes():
    layer = keras.layers.Dense(2)
    layer.build((3,))
    with pytest.raises(ValueError, match="shape \\(3, 2\\)"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(2)])
    with pytest.raises(ValueError, match="expects 2 weight arrays"):
        layer.set_weights([np.zeros((3, 2))])
