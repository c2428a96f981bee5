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
    ({"units": 0}, ValueError, "units=0"),
    ({"units": 2.5}, ValueError, "units=2.5"),
    ({"units": 3, "activation": "swish2"}, ValueError, "activation='swish2'"),
    ({"units": 3, "kernel_initializer": "bogus"}, ValueError, "bogus"),
    ({"units": 3, "bogus": 1}, TypeError, "bogus"),
    ({"units": 3, "input_shape": (0,)}, ValueError, "input_shape"),
    ({"units": 3, "kernel_regularizer": "l3"}, ValueError, "regularizer identifier"),
    ({"units": 3, "kernel_constraint": "min_max_norm"}, ValueError, "constraint identifier"),
    ({"units": 3, "kernel_constraint": {"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 1}}}, ValueError, "axis=0"),
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


# ----- activation layers, Dropout, BatchNormalization ------------------------------------------------

def test_new_layers_take_keras_names_and_defaults():
    keras.naming.clear_session() if hasattr(keras, "naming") else keras.clear_session()
    bn = keras.layers.BatchNormalization()
    assert (bn.name, bn.axis, bn.momentum, bn.epsilon, bn.center, bn.scale) == (
        "batch_normalization", -1, 0.99, 1e-3, True, True)
    assert [type(i).__name__ for i in (bn.beta_initializer, bn.gamma_initializer, bn.moving_mean_initializer,
                                       bn.moving_variance_initializer)] == ["Zeros", "Ones", "Zeros", "Ones"]
    assert keras.layers.Dropout(0.5).name == "dropout" and keras.layers.Dropout(0.5).seed is None
    assert keras.layers.LeakyReLU().name == "leaky_re_lu" and keras.layers.LeakyReLU().negative_slope == 0.3
    assert keras.layers.ReLU().name == "re_lu" and keras.layers.ReLU().activation_name == "relu"
    assert keras.layers.ReLU(negative_slope=0.1).activation_name == "leaky_relu"
    assert keras.layers.ELU().alpha == 1.0 and keras.layers.Softmax().axis == -1
    assert keras.layers.Activation("swish").activation_name == "silu"
    assert keras.layers.Dense(3, activation="swish").activation_name == "silu"


def test_batch_norm_weights_and_summary_counts_as_keras():
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(8),
                              keras.layers.BatchNormalization(), keras.layers.Dropout(0.2),
                              keras.layers.Dense(2)])
    bn = model.layers[1]
    assert bn.count_params() == 4 * 8
    assert [w.shape for w in bn.trainable_weights] == [(8,), (8,)]
    assert [w.shape for w in bn.non_trainable_weights] == [(8,), (8,)]
    gamma, beta, mean, var = bn.get_weights()
    np.testing.assert_array_equal(gamma, 1)
    np.testing.assert_array_equal(beta, 0)
    np.testing.assert_array_equal(mean, 0)
    np.testing.assert_array_equal(var, 1)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert " Total params: 138 (552.00 B)" in text
    assert " Trainable params: 122 (488.00 B)" in text
    assert " Non-trainable params: 16 (64.00 B)" in text
    assert "│ batch_normalization             │" in text and "│ (BatchNormalization)            │" in text
    no_affine = keras.layers.BatchNormalization(center=False, scale=False)
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), no_affine])
    assert no_affine.count_params() == 8 and not no_affine.trainable_weights


@pytest.mark.parametrize("make,error,match", [
    (lambda: keras.layers.Dropout(1.0), ValueError, "rate=1"),
    (lambda: keras.layers.Dropout(-0.1), ValueError, "rate"),
    (lambda: keras.layers.Dropout(0.5, noise_shape=(None, 1)), ValueError, "noise_shape"),
    (lambda: keras.layers.Dropout(0.5, seed=-1), ValueError, "seed"),
    (lambda: keras.layers.BatchNormalization(axis=1), ValueError, "axis=-1"),
    (lambda: keras.layers.BatchNormalization(renorm=True), ValueError, "renorm"),
    (lambda: keras.layers.BatchNormalization(gamma_regularizer="l2"), ValueError, "gamma_regularizer"),
    (lambda: keras.layers.BatchNormalization(epsilon=0), ValueError, "epsilon"),
    (lambda: keras.layers.BatchNormalization(momentum=1.5), ValueError, "momentum"),
    (lambda: keras.layers.ReLU(max_value=6.0), ValueError, "max_value"),
    (lambda: keras.layers.LeakyReLU(negative_slope=-1), ValueError, "negative_slope"),
    (lambda: keras.layers.ELU(alpha=0), ValueError, "alpha"),
    (lambda: keras.layers.Softmax(axis=0), ValueError, "axis=-1"),
    (lambda: keras.layers.Activation("mish"), ValueError, "activation='mish'"),
])
def test_new_layers_reject_what_they_do_not_support(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_batch_norm_and_softmax_on_rank_two_samples_ask_for_flatten():
    for layer in (keras.layers.BatchNormalization(), keras.layers.Softmax()):
        with pytest.raises(ValueError, match="Flatten"):
            keras.Sequential([keras.Input((4, 4)), layer, keras.layers.Flatten(), keras.layers.Dense(2)])
    # elementwise layers work on any sample shape (they run on the flattened rows)
    model = keras.Sequential([keras.Input((2, 3)), keras.layers.Dropout(0.5), keras.layers.ReLU(),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    x = np.arange(-6, 6, dtype=np.float32).reshape(2, 2, 3)
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), np.maximum(x.reshape(2, 6), 0) @ kernel + bias, rtol=1e-6)


def test_leaky_relu_alpha_is_keras_2s_spelling():
    with pytest.warns(DeprecationWarning, match="negative_slope"):
        layer = keras.layers.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1
    with pytest.raises(TypeError, match="negative_slope= only"):
        keras.layers.LeakyReLU(alpha=0.1, negative_slope=0.2)


def test_the_tutorial_imports_and_layers_run():
    from fastmlp.layers import BatchNormalization, Dense, Dropout
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 12)).astype(np.float32)
    y = (x[:, :3].sum(axis=1) > 0).astype(np.int32)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([Dense(32, activation="relu", input_shape=(12,)), BatchNormalization(),
                              Dropout(0.3), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(x, y, verbose=0)[1] > 0.9
