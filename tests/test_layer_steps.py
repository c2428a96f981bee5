"""The compiled step kinds beyond Dense (activation, dropout, batch normalization) and the
activations beyond the first five: central-difference gradient checks of the training-mode
loss (float64), NumPy references of Keras's formulas, and the properties of the dropout masks."""
import numpy as np
import pytest

import fastmlp as keras
from fastmlp import _reference as ref
from fastmlp._kernels.dropout import dropout_check
from fastmlp.engine import ActivationStep, BatchNormStep, DenseStep, DropoutStep, Engine
from fastmlp.optimizers import SGD

NEW_ACTIVATIONS = ["leaky_relu", "elu", "selu", "gelu", "softplus", "softsign", "silu",
                   "hard_sigmoid", "exponential"]
LOSS = "mean_squared_error"


def _check_gradient(engine, x, targets, seed=7):
    """grads of the training-mode mean loss against central differences of that loss."""
    rows = x.shape[0]
    engine.gradient(x, None, targets, seed)
    analytic = engine.grads.copy()
    start = engine.params.copy()

    def loss_at(params):
        engine.params[:] = params
        return engine.gradient(x, None, targets, seed) / rows

    h = 1e-6
    numeric = np.empty_like(analytic)
    for i in range(engine.trainable_size):
        up, down = start.copy(), start.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (loss_at(up) - loss_at(down)) / (2 * h)
    engine.params[:] = start
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def _engine(rng, steps, scale=0.7):
    engine = Engine(steps, np.float64)
    engine.params[:] = rng.standard_normal(engine.size) * scale
    for i, step in enumerate(engine.steps):  # moving variances must be positive
        if isinstance(step, BatchNormStep):
            engine.views(i)[-1][...] = rng.uniform(0.5, 2.0, step.n)
    engine.set_loss(LOSS, None)
    return engine


@pytest.mark.parametrize("act", NEW_ACTIVATIONS)
def test_dense_with_each_new_activation_matches_central_differences(rng, act):
    engine = _engine(rng, [DenseStep(4, 5, act, True), DenseStep(5, 3, "tanh", True)])
    x = rng.standard_normal((6, 4))
    _check_gradient(engine, x, rng.standard_normal((6, 3)))


@pytest.mark.parametrize("act", [*NEW_ACTIVATIONS, "relu", "sigmoid", "tanh", "softmax"])
def test_activation_step_matches_central_differences(rng, act):
    engine = _engine(rng, [DenseStep(4, 5, "linear", True), ActivationStep(5, act),
                           DenseStep(5, 3, "linear", True)])
    _check_gradient(engine, rng.standard_normal((6, 4)), rng.standard_normal((6, 3)))


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
@pytest.mark.parametrize("first", [False, True])
def test_batch_norm_step_matches_central_differences(rng, center, scale, first):
    steps = [BatchNormStep(4, 0.99, 1e-3, center, scale), DenseStep(4, 3, "tanh", True)]
    if not first:
        steps = [DenseStep(4, 4, "relu", True), *steps]
    engine = _engine(rng, steps)
    _check_gradient(engine, rng.standard_normal((8, 4)) * 2 + 1, rng.standard_normal((8, 3)))


@pytest.mark.parametrize("first", [False, True])
def test_dropout_step_matches_central_differences(rng, first):
    steps = [DropoutStep(5, 0.4, 123), DenseStep(5, 3, "tanh", True)]
    if not first:
        steps = [DenseStep(4, 5, "relu", True), *steps]
    engine = _engine(rng, steps)
    x = rng.standard_normal((6, 4 if not first else 5))
    _check_gradient(engine, x, rng.standard_normal((6, 3)))


def test_gradient_through_everything_at_once(rng):
    engine = _engine(rng, [DenseStep(4, 6, "linear", False), BatchNormStep(6, 0.9, 1e-3, True, True),
                           ActivationStep(6, "gelu"), DropoutStep(6, 0.3, 5),
                           DenseStep(6, 5, "selu", True), ActivationStep(5, "leaky_relu", 0.1),
                           DenseStep(5, 3, "softmax", True)])
    engine.set_loss("categorical_crossentropy", None)
    x = rng.standard_normal((10, 4))
    t = np.eye(3)[rng.integers(0, 3, 10)]
    rows = x.shape[0]
    engine.gradient(x, None, t, 3)
    analytic = engine.grads.copy()
    start = engine.params.copy()

    def loss_at(i, h):
        engine.params[:] = start
        engine.params[i] += h
        return engine.gradient(x, None, t, 3) / rows

    numeric = np.array([(loss_at(i, 1e-6) - loss_at(i, -1e-6)) / 2e-6 for i in range(engine.trainable_size)])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


# ----- batch normalization against the NumPy reference --------------------------------------------

def test_batch_norm_training_step_follows_the_reference(rng):
    """One SGD step: batch statistics forward, gradient backward, then Keras's moving update."""
    engine = _engine(rng, [DenseStep(3, 4, "linear", True), BatchNormStep(4, 0.9, 1e-3, True, True),
                           DenseStep(4, 2, "linear", True)])
    x = rng.standard_normal((16, 3))
    t = rng.standard_normal((16, 2))
    before = [[w.copy() for w in engine.views(i)] for i in range(3)]
    (w0, b0), (gamma, beta, mm, mv), (w1, b1) = before
    h = x @ w0 + b0
    y, mean, var = ref.batch_norm_train(h, gamma, beta, 1e-3)
    out = y @ w1 + b1
    rule = SGD(0.1).build(engine.trainable_size, np.float64)
    loss_sum, _, _, bad = engine.train(x, None, t, None, 0, 1, 16, rule)
    assert bad == -1
    assert loss_sum == pytest.approx(ref.loss_sum(LOSS, out, t), rel=1e-12)
    _, _, moving_mean, moving_var = engine.views(1)
    np.testing.assert_allclose(moving_mean, 0.9 * mm + 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(moving_var, 0.9 * mv + 0.1 * var, rtol=1e-12)


def test_batch_norm_inference_uses_the_moving_statistics(rng):
    engine = _engine(rng, [DenseStep(3, 4, "linear", True), BatchNormStep(4, 0.99, 1e-2, True, True)])
    engine.publish()
    x = rng.standard_normal((5, 3))
    (w0, b0), (gamma, beta, mm, mv) = [engine.views(i) for i in range(2)]
    expected = ref.batch_norm_inference(x @ w0 + b0, gamma, beta, mm, mv, 1e-2)
    np.testing.assert_allclose(engine.predict(x, 2), expected, rtol=1e-12)


def test_moving_statistics_are_not_touched_by_gradient_nor_by_a_step_that_fails(rng):
    engine = _engine(rng, [DenseStep(3, 4, "linear", True), BatchNormStep(4, 0.5, 1e-3, True, True),
                           DenseStep(4, 2, "linear", True)])
    before = engine.params.copy()
    x = rng.standard_normal((8, 3))
    engine.gradient(x, None, rng.standard_normal((8, 2)))
    np.testing.assert_array_equal(engine.params, before)
    rule = SGD(0.1).build(engine.trainable_size, np.float64)
    _, _, _, bad = engine.train(x, None, np.full((8, 2), np.inf), None, 0, 1, 8, rule)
    assert bad == 0
    np.testing.assert_array_equal(engine.params, before)


# ----- dropout ------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.8])
def test_dropout_drops_its_rate_and_scales_the_rest(rate):
    y = dropout_check(np.ones((400, 250)), rate, 3, 4, 0)
    assert abs(np.mean(y == 0) - rate) < 0.005, np.mean(y == 0)
    np.testing.assert_allclose(y[y != 0], 1 / (1 - rate))


def test_dropout_masks_depend_on_layer_epoch_and_step_alone():
    x = np.ones((64, 32))
    base = dropout_check(x, 0.5, 1, 2, 3)
    np.testing.assert_array_equal(base, dropout_check(x, 0.5, 1, 2, 3))
    for other in [(9, 2, 3), (1, 9, 3), (1, 2, 9)]:
        changed = dropout_check(x, 0.5, *other)
        assert 0.3 < np.mean((changed == 0) != (base == 0)) < 0.7, other
    # rows and columns are not correlated: no two rows share a mask
    masks = base == 0
    assert len({row.tobytes() for row in masks}) == 64
    assert abs(np.corrcoef(masks[:, 0], masks[:, 1])[0, 1]) < 0.35


def _dropout_model(seed=None):
    return keras.Sequential([keras.Input((20,)), keras.layers.Dense(32, activation="relu"),
                             keras.layers.Dropout(0.5, seed=seed), keras.layers.Dense(3, activation="softmax")])


def test_dropout_is_the_identity_in_predict_and_evaluate(rng):
    model = _dropout_model()
    plain = keras.Sequential([keras.Input((20,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    plain.set_weights(model.get_weights())
    x = rng.standard_normal((50, 20)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), plain.predict(x, verbose=0))


def test_dropout_training_is_reproducible_and_independent_of_slicing(rng, monkeypatch):
    from fastmlp import trainer
    x = rng.standard_normal((300, 20)).astype(np.float32)
    y = rng.integers(0, 3, 300)
    runs = []
    for slice_seconds in (0.1, 1e-9):  # many steps a call, then one step a call
        monkeypatch.setattr(trainer, "SLICE_SECONDS", slice_seconds)
        keras.utils.set_random_seed(42)
        model = _dropout_model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    # a different session seed draws other masks (and other initial weights)
    keras.utils.set_random_seed(43)
    model = _dropout_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert not np.array_equal(model.get_weights()[0], runs[0][0])


def test_dropout_changes_training_and_its_seed_fixes_the_masks(rng):
    x = rng.standard_normal((200, 20)).astype(np.float32)
    y = rng.integers(0, 3, 200)
    weights = {}
    for name, rate, seed in (("none", 0.0, 1), ("a", 0.5, 1), ("b", 0.5, 1), ("c", 0.5, 2)):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dropout(rate, seed=seed),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, verbose=0)
        weights[name] = model.get_weights()[0]
    np.testing.assert_array_equal(weights["a"], weights["b"])
    assert not np.array_equal(weights["a"], weights["none"])
    assert not np.array_equal(weights["a"], weights["c"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_training_step_applies_the_masks_of_the_hook(rng, dtype):
    """The network's dropout (mask and scale) in training, against dropout_check, through
    the loss: MSE against zeros of an identity layer after the dropout is mean(y²)."""
    rate, seed, epoch_seed = 0.3, 77, 5
    engine = Engine([DropoutStep(12, rate, seed), DenseStep(12, 12, "linear", False)], dtype)
    engine.views(1)[0][...] = np.eye(12)
    engine.set_loss(LOSS, None)
    x = rng.standard_normal((40, 12)).astype(dtype)
    loss_sum = engine.gradient(x, None, np.zeros((40, 12), dtype), epoch_seed)
    y = dropout_check(x.astype(np.float64), rate, seed, epoch_seed, 0)
    assert loss_sum == pytest.approx(np.mean(y ** 2, axis=1).sum(), rel=1e-5)
