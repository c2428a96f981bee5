"""Optimizers: Keras's defaults, and several steps equal to Keras's formulas (fastmlp._reference,
checked here against hand-computed golden values too)."""
import numpy as np
import pytest

import fastmlp as keras
from fastmlp import _reference as ref


def _run(optimizer, dtype, steps=5, size=37, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(size).astype(dtype)
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(steps)]
    rule = optimizer.build(size, dtype)
    out = w.copy()
    for g in grads:
        rule.step(out, g)
    return w.astype(np.float64), [g.astype(np.float64) for g in grads], out


def test_keras_defaults():
    sgd, rms, ada, adam = (keras.optimizers.SGD(), keras.optimizers.RMSprop(),
                           keras.optimizers.Adagrad(), keras.optimizers.Adam())
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov) == (0.01, 0.0, False)
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon, rms.centered) == (0.001, 0.9, 0.0, 1e-7, False)
    assert (ada.learning_rate, ada.initial_accumulator_value, ada.epsilon) == (0.001, 0.1, 1e-7)
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (0.001, 0.9, 0.999, 1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd(dtype, momentum, nesterov):
    w, grads, out = _run(keras.optimizers.SGD(0.1, momentum=momentum, nesterov=nesterov), dtype)
    m = np.zeros_like(w)
    for g in grads:
        w, m = ref.sgd(w, g, m, 0.1, momentum, nesterov)
    np.testing.assert_allclose(out, w, rtol=1e-5 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adagrad(dtype):
    w, grads, out = _run(keras.optimizers.Adagrad(0.05), dtype)
    acc = np.full_like(w, 0.1)
    for g in grads:
        w, acc = ref.adagrad(w, g, acc, 0.05, 1e-7)
    np.testing.assert_allclose(out, w, rtol=1e-5 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop(dtype, momentum):
    w, grads, out = _run(keras.optimizers.RMSprop(0.01, momentum=momentum), dtype)
    v, m = np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        w, v, m = ref.rmsprop(w, g, v, m, 0.01, 0.9, momentum, 1e-7)
    np.testing.assert_allclose(out, w, rtol=1e-5 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam(dtype):
    opt = keras.optimizers.Adam(0.01)
    w, grads, out = _run(opt, dtype)
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        w, m, v = ref.adam(w, g, m, v, t, 0.01, 0.9, 0.999, 1e-7)
    np.testing.assert_allclose(out, w, rtol=1e-5 if dtype == np.float32 else 1e-13)
    assert opt.iterations == 5


def test_golden_values_by_hand():
    # Adam's first step: m = 0.1·g, v = 0.001·g², α = lr·√0.001/0.1, so the move is
    # lr·g/(|g| + ε/√0.001): Keras adds ε after the bias correction, not before.
    w, grads, out = _run(keras.optimizers.Adam(0.01), np.float64, steps=1)
    g = grads[0]
    np.testing.assert_allclose(out, w - 0.01 * g / (np.abs(g) + 1e-7 / np.sqrt(0.001)), rtol=1e-12)
    # SGD with momentum 0.9, two steps of g = 1, lr 0.1: m = -0.1, then -0.19; w moves -0.29.
    rule = keras.optimizers.SGD(0.1, momentum=0.9).build(1, np.float64)
    w1 = np.zeros(1)
    for _ in range(2):
        rule.step(w1, np.ones(1))
    assert w1[0] == pytest.approx(-0.29)
    # Adagrad, one step of g = 2 from accumulator 0.1: w -= 0.001·2/√4.1.
    rule = keras.optimizers.Adagrad().build(1, np.float64)
    w2 = np.zeros(1)
    rule.step(w2, np.full(1, 2.0))
    assert w2[0] == pytest.approx(-0.002 / np.sqrt(4.1 + 1e-7))


def test_learning_rate_can_change_between_steps():
    opt = keras.optimizers.SGD(0.1)
    rule = opt.build(1, np.float64)
    w = np.zeros(1)
    rule.step(w, np.ones(1))
    opt.learning_rate = 0.5
    rule.step(w, np.ones(1))
    assert w[0] == pytest.approx(-0.6)


@pytest.mark.parametrize("make,match", [
    (lambda: keras.optimizers.Adam(learning_rate=0), "learning_rate"),
    (lambda: keras.optimizers.Adam(learning_rate=-1.0), "learning_rate"),
    (lambda: keras.optimizers.SGD(momentum=1.5), "momentum"),
    (lambda: keras.optimizers.Adam(beta_1=1.0), "beta_1"),
    (lambda: keras.optimizers.Adam(use_ema=True), "use_ema"),
    (lambda: keras.optimizers.RMSprop(centered=True), "centered"),
    (lambda: keras.optimizers.SGD(clipnorm=1.0, clipvalue=0.5), "Only one of"),
    (lambda: keras.optimizers.SGD(clipnorm=-1.0), "clipnorm"),
    (lambda: keras.optimizers.AdamW(weight_decay=None), "weight_decay"),
    (lambda: keras.optimizers.schedules.ExponentialDecay(0.1, 0, 0.9), "decay_steps"),
    (lambda: keras.optimizers.schedules.PiecewiseConstantDecay([10], [0.1]), "boundaries"),
])
def test_bad_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_unknown_keyword_and_name():
    with pytest.raises(TypeError, match="momentun"):
        keras.optimizers.SGD(momentun=0.9)
    with pytest.raises(ValueError, match="Unknown optimizer.*adamax"):
        keras.optimizers.get("adamax")
    assert isinstance(keras.optimizers.get("Adam"), keras.optimizers.Adam)


def test_step_rejects_wrong_buffers():
    rule = keras.optimizers.Adam().build(4, np.float32)
    with pytest.raises(ValueError, match="shape \\(4,\\)"):
        rule.step(np.zeros(3, np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="float32"):
        rule.step(np.zeros(4, np.float64), np.zeros(4, np.float64))


def test_rules_refuse_settings_they_cannot_compute():
    from fastmlp._kernels.optim import SGDRule
    rule = SGDRule(12, np.float32, 0.1, 0.0, False)
    for call, match in [
        (lambda: rule.set_schedule("linear"), "unknown schedule"),
        (lambda: rule.set_schedule("exponential", 0.1, 0, 0.5), "decay_steps"),
        (lambda: rule.set_schedule("piecewise", boundaries=[1, 2], values=[0.1]), "one more value"),
        (lambda: rule.set_transforms(clipnorm=1.0, clipvalue=1.0), "only one"),
        (lambda: rule.set_transforms(weight_decay=float("nan")), "weight_decay"),
        (lambda: rule.set_transforms(segments=[(0, 5), (6, 6)]), "tile"),
        (lambda: rule.set_transforms(segments=[(0, 13)]), "tile"),
    ]:
        with pytest.raises(ValueError, match=match):
            call()


def test_clipnorm_clips_each_weight_array_and_global_clipnorm_all_of_them():
    g = np.array([3.0, 4.0, 0.0, 0.3, 0.4], np.float64)  # norms 5 and 0.5; together √25.25
    for optimizer, expected in [
        (keras.optimizers.SGD(1.0, clipnorm=1.0), np.concatenate([g[:2] / 5, g[2:]])),
        (keras.optimizers.SGD(1.0, global_clipnorm=1.0), g / np.sqrt(25.25)),
        (keras.optimizers.SGD(1.0, clipvalue=0.35), np.clip(g, -0.35, 0.35)),
    ]:
        rule = optimizer.build(5, np.float64, [(0, 2), (2, 3)])
        w = np.zeros(5)
        rule.step(w, g)
        np.testing.assert_allclose(-w, expected, rtol=1e-12)
    np.testing.assert_array_equal(g, [3.0, 4.0, 0.0, 0.3, 0.4])  # step() leaves g as it was


def test_weight_decay_is_decoupled_and_uses_the_step_learning_rate():
    optimizer = keras.optimizers.SGD(keras.optimizers.schedules.PiecewiseConstantDecay([0], [0.5, 0.1]),
                                     weight_decay=0.2)
    rule = optimizer.build(2, np.float64)
    w = np.array([1.0, -2.0])
    rule.step(w, np.zeros(2))  # step 0: lr 0.5
    np.testing.assert_allclose(w, [1.0 - 1.0 * 0.2 * 0.5, -2.0 + 2.0 * 0.2 * 0.5])
    rule.step(w, np.array([1.0, 1.0]))  # step 1: lr 0.1
    np.testing.assert_allclose(w, [0.9 * (1 - 0.02) - 0.1, -1.8 * (1 - 0.02) - 0.1])
