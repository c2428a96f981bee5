"""Sequential: summary, weights, fit/evaluate/predict semantics (values checked against the
NumPy reference), Keras defaults, input conversion, reproducibility and error messages."""
import io
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout

import numpy as np
import pytest

import fastmlp as keras
from fastmlp import _reference as ref


def seed_model_small(name="Fashion_MNIST_DNN"):
    model = keras.Sequential(name=name)
    model.add(keras.layers.Flatten(input_shape=(28, 28)))
    model.add(keras.layers.Dense(100, activation="relu", name="hidden"))
    model.add(keras.layers.Dense(10, activation="softmax", name="output"))
    return model


def seed_model_deep():
    model = keras.models.Sequential()
    model.add(keras.layers.Dense(300, activation="relu", input_shape=(784,)))
    model.add(keras.layers.Dense(200, activation="relu"))
    model.add(keras.layers.Dense(100, activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model


def summary_text(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def reference_forward(model, x):
    h = np.asarray(x, np.float64).reshape(len(x), -1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            w = layer.get_weights()
            h = ref.dense_forward(h, w[0].astype(np.float64), w[1].astype(np.float64) if len(w) > 1 else None,
                                  layer.activation_name)
    return h


def test_summary_of_the_seed_models():
    text = summary_text(seed_model_small())
    assert text.splitlines()[0] == 'Model: "Fashion_MNIST_DNN"'
    assert re.search(r"│ flatten \(Flatten\)\s+│ \(None, 784\)\s+│\s+0 │", text)
    assert re.search(r"│ hidden \(Dense\)\s+│ \(None, 100\)\s+│\s+78,500 │", text)
    assert re.search(r"│ output \(Dense\)\s+│ \(None, 10\)\s+│\s+1,010 │", text)
    assert " Total params: 79,510 (310.59 KB)" in text
    assert " Trainable params: 79,510 (310.59 KB)" in text
    assert " Non-trainable params: 0 (0.00 B)" in text

    deep = seed_model_deep()
    text = summary_text(deep)
    assert text.splitlines()[0] == 'Model: "sequential"'
    for name, shape, params in [("dense", 300, "235,500"), ("dense_1", 200, "60,200"),
                                ("dense_2", 100, "20,100"), ("dense_3", 10, "1,010")]:
        assert re.search(rf"│ {name} \(Dense\)\s+│ \(None, {shape}\)\s+│\s+{params} │", text)
    assert " Total params: 316,810 (1.21 MB)" in text
    assert deep.count_params() == 316_810


def test_get_set_weights_keras_layout_and_predict_matches_reference(rng):
    model = seed_model_deep()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(784, 300), (300,), (300, 200), (200,), (200, 100), (100,), (100, 10), (10,)]
    new = [rng.standard_normal(w.shape).astype(np.float32) * 0.05 for w in weights]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    x = rng.random((45, 784)).astype(np.float32)
    out = model.predict(x, verbose=0)
    assert out.dtype == np.float32 and out.shape == (45, 10)
    np.testing.assert_allclose(out, reference_forward(model, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=7, verbose=0), out, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model(x[:1]), out[:1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.predict_on_batch(x), out, rtol=1e-5, atol=1e-7)


def test_inputs_of_any_dtype_and_memory_order_give_the_same_outputs(rng):
    model = seed_model_small()
    images = rng.integers(0, 256, (20, 28, 28)).astype(np.uint8)
    base = model.predict(images.astype(np.float32), verbose=0)
    np.testing.assert_allclose(model.predict(images, verbose=0), base, rtol=1e-6)
    np.testing.assert_allclose(model.predict(images.astype(np.float64), verbose=0), base, rtol=1e-6)
    np.testing.assert_allclose(model.predict(np.asfortranarray(images.astype(np.float32)), verbose=0), base, rtol=1e-6)
    wide = np.zeros((40, 28, 28), np.float32)
    wide[::2] = images
    np.testing.assert_allclose(model.predict(wide[::2], verbose=0), base, rtol=1e-6)


def test_evaluate_matches_the_reference_loss(rng):
    model = seed_model_small()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.random((50, 28, 28))
    y = rng.integers(0, 10, 50)
    p = reference_forward(model, x)
    loss, acc = model.evaluate(x, y, verbose=0)
    assert loss == pytest.approx(ref.loss_sum("sparse_categorical_crossentropy", p, y) / 50, rel=1e-5)
    assert acc == pytest.approx(np.mean(np.argmax(p, 1) == y))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert model.evaluate(x, y, verbose=0) == pytest.approx(loss, rel=1e-6)
    assert model.evaluate(x, y, verbose=0, return_dict=True) == {"loss": pytest.approx(loss, rel=1e-6)}


def test_compile_defaults_are_keras():
    model = seed_model_small()
    model.compile(loss="mse")
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert model.optimizer.learning_rate == 0.001


def test_fit_history_and_progress_output(rng):
    model = seed_model_small()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
    x = rng.random((100, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 100)
    out = io.StringIO()
    with redirect_stdout(out):
        history = model.fit(x, y, epochs=2, validation_split=0.2)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 2 for v in history.history.values())
    assert history.epoch == [0, 1]
    text = out.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text
    # 80 training samples in batches of 32: 3 steps
    assert re.search(r"3/3 ━+ \d+s \d+(us|ms)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4} - "
                     r"val_accuracy: \d\.\d{4} - val_loss: \d\.\d{4}", text)
    assert model.optimizer.iterations == 6
    # the validation logs equal evaluate() on the last 20% (Keras splits before shuffling)
    val_loss, val_acc = model.evaluate(x[80:], y[80:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(val_acc)
    out = io.StringIO()
    with redirect_stdout(out):
        model.fit(x, y, epochs=1, verbose=0)
    assert out.getvalue() == ""


def test_training_loss_is_the_mean_over_samples_of_the_pre_update_batch_losses(rng):
    # one step over all rows: the logged loss is the loss before the update
    model = seed_model_small()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    x = rng.random((16, 28, 28))
    y = rng.integers(0, 10, 16)
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    assert history.history["loss"][0] == pytest.approx(before, rel=1e-6)


def test_one_sgd_step_equals_the_reference_step(rng):
    model = keras.Sequential([keras.layers.Dense(5, activation="tanh", input_shape=(4,)),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((8, 4))
    y = rng.integers(0, 3, 8)
    w1, b1, w2, b2 = [w.astype(np.float64) for w in model.get_weights()]
    h = ref.dense_forward(x, w1, b1, "tanh")
    p = ref.dense_forward(h, w2, b2, "softmax")
    dz2 = ref.fused_gradient("sparse_categorical_crossentropy", p, y)
    dw2, db2, dh = h.T @ dz2, dz2.sum(0), dz2 @ w2.T
    dw1, db1, _ = ref.dense_backward(x, w1, h, dh, "tanh")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for got, want in zip(model.get_weights(), [w1 - 0.5 * dw1, b1 - 0.5 * db1, w2 - 0.5 * dw2, b2 - 0.5 * db2]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss,metric,units,activation", [
    ("categorical_crossentropy", "categorical_accuracy", 3, "softmax"),
    ("binary_crossentropy", "binary_accuracy", 1, "sigmoid"),
    ("mse", None, 2, None),
    ("mae", None, 2, "linear"),
])
def test_other_losses_train(rng, loss, metric, units, activation):
    x = rng.standard_normal((400, 6)).astype(np.float32)
    w = rng.standard_normal((6, units))
    if loss == "categorical_crossentropy":
        y = keras.utils.to_categorical(np.argmax(x @ w, 1), units)
    elif loss == "binary_crossentropy":
        y = (x @ w[:, 0] > 0).astype(np.float32)
    else:
        y = x @ w
    model = keras.Sequential([keras.layers.Dense(16, activation="tanh", input_dim=6),
                              keras.layers.Dense(units, activation=activation)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss, metrics=["accuracy"] if metric else None)
    history = model.fit(x, y, epochs=15, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    if metric:
        assert history.history["accuracy"][-1] > 0.85
        p = model.predict(x, verbose=0)
        expected = keras.metrics.accuracy(
            keras.metrics.CATEGORICAL if units > 1 else keras.metrics.BINARY, y, p).mean()
        assert model.evaluate(x, y, verbose=0)[1] == pytest.approx(expected)


def test_seed_makes_training_bit_for_bit_reproducible(rng):
    x = rng.random((200, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 200)
    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(42)
        model = seed_model_small()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_float64_models(rng):
    keras.config.set_floatx("float64")
    try:
        model = seed_model_small()
    finally:
        keras.config.set_floatx("float32")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.random((10, 28, 28))
    assert model.dtype == "float64" and model.get_weights()[0].dtype == np.float64
    out = model.predict(x, verbose=0)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, reference_forward(model, x), rtol=1e-12)
    model.fit(x, np.arange(10), verbose=0)


def test_deferred_build_from_data(rng):
    model = keras.Sequential([keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
    assert not model.built
    model.compile(loss="mse")
    model.fit(rng.random((10, 3)), rng.random((10, 2)), verbose=0)
    assert model.built and model.input_shape == (None, 3) and model.count_params() == 26


@pytest.mark.parametrize("make, differs", [(list, False),
                                            (lambda: [keras.layers.Dropout(0.0)], False),
                                            (lambda: [keras.layers.Dropout(0.3)], True),
                                            (lambda: [keras.layers.BatchNormalization()], True),
                                            (lambda: [keras.layers.BatchNormalization(trainable=False)],
                                             False)])
def test_model_call_takes_keras_training_and_mask_arguments(rng, make, differs):
    """model(x, training=False) is Keras's inference call: model(x)'s outputs bit for bit.
    training=True gives the same outputs where no layer behaves otherwise in training, and
    says it is not supported where one does; a mask is refused, naming it."""
    model = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(4, activation="relu"),
                              *make(), keras.layers.Dense(2)])
    x = rng.random((3, 5)).astype(np.float32)
    expected = model(x)
    np.testing.assert_array_equal(expected, model.predict(x, verbose=0))  # the checked path
    np.testing.assert_array_equal(model(x, training=False), expected)
    np.testing.assert_array_equal(model(x, training=None), expected)
    if differs:
        with pytest.raises(NotImplementedError, match="training=True.*fit"):
            model(x, training=True)
    else:
        np.testing.assert_array_equal(model(x, training=True), expected)
    with pytest.raises(ValueError, match="mask"):
        model(x, mask=np.ones((3, 5), bool))
    with pytest.raises(ValueError, match="`training` must be"):
        model(x, training="yes")
    # a model built by its first call
    deferred = keras.Sequential([keras.layers.Dense(2), *make()])
    if differs:
        with pytest.raises(NotImplementedError):
            deferred(x, training=True)
        assert deferred.built
    else:
        assert deferred(x, training=True).shape == (3, 2)


def test_build_needs_every_sample_dimension():
    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"only the batch dimension may be None.*\(None, None\)"):
        model.build((None, None))
    assert not model.built
    model.build((None, 3))
    assert model.input_shape == (None, 3) and model.count_params() == 8


def test_layers_and_input_first():
    model = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(2)])
    assert [l.name for l in model.layers] == ["dense"]
    assert model.output_shape == (None, 2)


def test_predict_is_thread_safe(rng):
    model = seed_model_deep()
    x = rng.random((64, 784)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: model.predict(x[i % 64:i % 64 + 1], verbose=0), range(400)))
    for i, out in enumerate(results):
        np.testing.assert_allclose(out, expected[i % 64:i % 64 + 1], rtol=1e-5, atol=1e-7)


# ---- errors ----------------------------------------------------------------------------------

@pytest.fixture
def compiled(rng):
    model = seed_model_small()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
    return model


@pytest.mark.parametrize("x_shape,y,error,match", [
    ((10, 28, 27), np.zeros(10), ValueError, r"expects \(batch, 28, 28\).*x.shape=\(10, 28, 27\)"),
    ((10, 28, 28), np.zeros((10, 10)), ValueError, r"labels of shape \(N,\) or \(N, 1\).*y.shape=\(10, 10\)"),
    ((10, 28, 28), np.full(10, 10), ValueError, r"\[0, 10\).*from 10 to 10"),
    ((10, 28, 28), np.full(10, -1), ValueError, r"\[0, 10\)"),
    ((10, 28, 28), np.full(10, 1.5), ValueError, "integer class labels"),
    ((10, 28, 28), np.zeros(9), ValueError, "same number of samples.*10 inputs and 9 targets"),
    ((0, 28, 28), np.zeros(0), ValueError, "empty"),
    ((10, 28, 28), None, ValueError, "`y` is required"),
])
def test_bad_data_is_named(compiled, x_shape, y, error, match):
    x = np.zeros(x_shape, np.float32)
    before = compiled.get_weights()
    with pytest.raises(error, match=match):
        compiled.fit(x, y, verbose=0)
    for a, b in zip(before, compiled.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_nan_and_inf_inputs_are_rejected(compiled):
    x = np.zeros((10, 28, 28), np.float32)
    x[3, 4, 5] = np.nan
    with pytest.raises(ValueError, match=r"`x` contains NaN or infinity \(first at index \(3, 117\)\)"):
        compiled.fit(x, np.zeros(10), verbose=0)
    with pytest.raises(ValueError, match="NaN or infinity"):
        compiled.evaluate(np.full((2, 28, 28), np.inf), np.zeros(2), verbose=0)
    with pytest.raises(ValueError, match="`y` contains NaN"):
        compiled.fit(np.zeros((2, 28, 28)), np.array([0, np.nan]), verbose=0)
    with pytest.raises(TypeError, match="numbers"):
        compiled.fit(np.array([["a"] * 784]), np.zeros(1), verbose=0)


def test_fit_before_compile_and_unknown_names():
    model = seed_model_small()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(np.zeros((2, 28, 28)), np.zeros(2))
    with pytest.raises(ValueError, match="Unknown loss.*'hinge'"):
        model.compile(loss="hinge")
    with pytest.raises(ValueError, match="Unknown optimizer.*'adamax'"):
        model.compile(optimizer="adamax", loss="mse")
    with pytest.raises(ValueError, match="Unknown metric.*'auc'"):
        model.compile(loss="mse", metrics=["auc"])
    with pytest.raises(ValueError, match="batch_size"):
        model.compile(loss="mse")
        model.fit(np.zeros((2, 28, 28)), np.zeros((2, 10)), batch_size=0)
    with pytest.raises(TypeError, match="symbolic tensors"):
        keras.Model(inputs=None, outputs=None)
    with pytest.raises(ValueError, match="from_logits"):
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_a_loss_that_turns_nan_stops_training_with_epoch_and_step(rng):
    model = keras.Sequential([keras.layers.Dense(8, input_dim=4), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1e6), loss="mse")
    x = rng.standard_normal((64, 4)) * 100
    y = rng.standard_normal(64) * 100
    with pytest.raises(FloatingPointError, match=r"epoch \d+, step \d+ of 8"):
        model.fit(x, y, epochs=50, batch_size=8, verbose=0)
    # the step whose loss was not finite was not applied: the weights are still numbers
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_set_weights_with_a_bad_array_changes_nothing(rng):
    model = seed_model_deep()
    before = model.get_weights()
    new = [w + 1 for w in before]
    new[-1] = np.full(10, np.nan, np.float32)  # the last layer's bias is bad
    with pytest.raises(ValueError, match="finite"):
        model.set_weights(new)
    new[-1] = np.zeros(10, np.float32)
    new[3] = np.zeros(7)
    with pytest.raises(ValueError, match=r"shape \(200,\)"):
        model.set_weights(new)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_get_layer_pop_and_json_as_keras(rng):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu", name="hidden"),
                              keras.layers.Dropout(0.1), keras.layers.Dense(3, activation="softmax", name="out")])
    assert model.get_layer("hidden") is model.layers[0] and model.get_layer(index=-1).name == "out"
    for kwargs in ({}, {"name": "nope"}, {"index": 3}, {"name": "hidden", "index": 0}):
        with pytest.raises(ValueError):
            model.get_layer(**kwargs)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    twin = keras.models.model_from_json(model.to_json())
    assert [type(l).__name__ for l in twin.layers] == ["Dense", "Dropout", "Dense"]
    assert model.get_config()["layers"][1]["config"]["units"] == 5
    twin.set_weights(model.get_weights())
    np.testing.assert_array_equal(twin.predict(x, verbose=0), model.predict(x, verbose=0))
    hidden = model.layers[0].get_weights()
    popped = model.pop()
    assert popped.name == "out" and [l.name for l in model.layers] == ["hidden", model.layers[1].name]
    assert model.output_shape == (None, 5)
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], hidden[0])  # kept
    np.testing.assert_allclose(model.predict(x, verbose=0), np.maximum(x @ hidden[0] + hidden[1], 0), rtol=1e-6)
    model.add(keras.layers.Dense(2, activation="softmax"))
    assert model.predict(x, verbose=0).shape == (4, 2)


def test_train_and_test_on_batch(rng):
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    before = model.get_weights()
    loss, acc = model.test_on_batch(x, y)
    assert [loss, acc] == pytest.approx(model.evaluate(x, y, batch_size=16, verbose=0), rel=1e-6)
    result = model.train_on_batch(x, y, return_dict=True)
    assert result["loss"] == pytest.approx(loss, rel=1e-6) and model.optimizer.iterations == 1
    # the same step as fit's over one batch of all rows
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    other.set_weights(before)
    other.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    other.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    regression = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    regression.compile(optimizer="sgd", loss="mse")
    kept = regression.get_weights()
    with pytest.raises(FloatingPointError, match="undone"):
        regression.train_on_batch(x, np.full(16, 1e30, np.float32))  # (1e30)² overflows float32
    assert regression.optimizer.iterations == 0
    for a, b in zip(regression.get_weights(), kept):
        np.testing.assert_array_equal(a, b)
