"""Central-difference gradient checks (float64) of the whole compiled step, for every hidden
activation × output activation × loss pair, fused and unfused output gradients alike."""
import numpy as np
import pytest

from fastmlp.engine import DenseStep, Engine
from fastmlp.optimizers import Adam

ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax"]
# output activations whose values each loss accepts (cross-entropies need probabilities)
OUTPUTS = {
    "sparse_categorical_crossentropy": ["softmax", "sigmoid"],
    "categorical_crossentropy": ["softmax", "sigmoid"],
    "binary_crossentropy": ["sigmoid", "softmax"],
    "mean_squared_error": ACTIVATIONS,
    "mean_absolute_error": ACTIVATIONS,
}
CASES = [(loss, hidden, out) for loss, outs in OUTPUTS.items() for hidden in ACTIVATIONS for out in outs]


def _problem(rng, loss, rows=6, n_in=4, n_out=3, targets="one-hot"):
    x = rng.standard_normal((rows, n_in))
    if loss == "sparse_categorical_crossentropy":
        return x, rng.integers(0, n_out, rows).astype(np.int32), None
    if loss == "categorical_crossentropy":
        onehot = np.eye(n_out)[rng.integers(0, n_out, rows)]
        # rows of y need not sum to 1: the fused gradient is p·Σy − y, not p − y
        return x, None, {"one-hot": onehot, "smoothed": onehot * 0.8 + 0.2 / n_out,
                         "all-zero": np.zeros_like(onehot), "scaled": onehot * 3,
                         "mixed": rng.random((rows, n_out))}[targets]
    if loss == "binary_crossentropy":
        return x, None, rng.integers(0, 2, (rows, n_out)).astype(np.float64)
    return x, None, rng.standard_normal((rows, n_out))


def _central_differences(engine, x, labels, targets, loss):
    rows = x.shape[0]
    engine.publish()
    loss_sum = engine.gradient(x, labels, targets)
    analytic = engine.grads.copy()

    def loss_at(params):
        engine.published = params  # evaluate reads the published weights
        return engine.evaluate(x, labels, targets, rows, loss, None)[0]
    assert loss_sum == pytest.approx(loss_at(engine.params.copy()), rel=1e-12)
    h = 1e-6
    numeric = np.empty_like(analytic)
    for i in range(engine.size):
        up, down = engine.params.copy(), engine.params.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (loss_at(up) - loss_at(down)) / (2 * h * rows)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("targets", ["one-hot", "smoothed", "all-zero", "scaled", "mixed"])
@pytest.mark.parametrize("out", ["softmax", "sigmoid"])
def test_categorical_targets_that_are_not_one_hot(rng, targets, out):
    engine = Engine([DenseStep(4, 5, "relu", True), DenseStep(5, 3, out, True)], np.float64)
    engine.params[:] = rng.standard_normal(engine.size) * 0.7
    engine.set_loss("categorical_crossentropy", None)
    assert engine.network.fused == (out == "softmax")
    x, labels, y = _problem(rng, "categorical_crossentropy", targets=targets)
    _central_differences(engine, x, labels, y, "categorical_crossentropy")


@pytest.mark.parametrize("loss,hidden,out", CASES)
def test_gradient_matches_central_differences(rng, loss, hidden, out):
    engine = Engine([DenseStep(4, 5, hidden, True), DenseStep(5, 4, "tanh", False),
                     DenseStep(4, 3, out, True)], np.float64)
    engine.params[:] = rng.standard_normal(engine.size) * 0.7
    engine.set_loss(loss, None)
    x, labels, targets = _problem(rng, loss)
    _central_differences(engine, x, labels, targets, loss)


def test_fused_output_gradient_is_used_for_softmax_cross_entropy(rng):
    engine = Engine([DenseStep(3, 4, "softmax", True)], np.float64)
    engine.set_loss("sparse_categorical_crossentropy", None)
    assert engine.network.fused
    engine.set_loss("mean_squared_error", None)
    assert not engine.network.fused


def test_engine_rejects_buffers_the_kernels_cannot_trust():
    engine = Engine([DenseStep(3, 2, "softmax", True)], np.float32)
    engine.set_loss("sparse_categorical_crossentropy", None)
    good = np.zeros((4, 3), np.float32)
    labels = np.zeros(4, np.int32)
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        engine.predict(np.zeros((4, 5), np.float32), 32)
    with pytest.raises(ValueError, match="float32"):
        engine.evaluate(good.astype(np.float64), labels, None, 32, "sparse_categorical_crossentropy", None)
    with pytest.raises(ValueError, match="labels"):
        engine.gradient(good, np.zeros(3, np.int32), None)
    rule = Adam().build(engine.size, np.float32)
    with pytest.raises(ValueError, match=r"row index outside \[0, 4\)"):
        engine.train(good, labels, None, np.array([0, 1, 2, 9], np.int64), 0, 1, 4, rule)
    with pytest.raises(ValueError, match="update rule was built for 3 float32 parameters"):
        engine.train(good, labels, None, None, 0, 1, 4, Adam().build(3, np.float32))
