"""The compiled training loop against the NumPy reference, step by step: shuffled batches
gathered by index (inputs and labels or targets alike), epochs split over several compiled
calls that each start at their own step, and outputs whose logits are far from zero."""
import numpy as np
import pytest

from fastmlp import _reference as ref
from fastmlp.engine import DenseStep, Engine
from fastmlp.optimizers import SGD

STEPS = [DenseStep(5, 6, "tanh", True), DenseStep(6, 3, "softmax", True)]


def reference_step(engine, params, x, y, loss):
    """params after one SGD(0.1) step on the batch (x, y), in float64 NumPy."""
    acts, h = [], x
    for i, step in enumerate(engine.steps):
        w, b = engine.views(i, params)
        h = ref.dense_forward(h, w, b, step.activation)
        acts.append(h)
    delta = ref.fused_gradient(loss, acts[-1], y)
    grads = np.zeros_like(params)
    for i in range(len(engine.steps) - 1, -1, -1):
        w, _ = engine.views(i, params)
        inp = x if i == 0 else acts[i - 1]
        gw, gb = engine.views(i, grads)
        gw[...] = inp.T @ delta
        gb[...] = delta.sum(axis=0)
        if i:
            delta = ref.activation_backward(delta @ w.T, acts[i - 1], engine.steps[i - 1].activation)
    return params - 0.1 * grads


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_shuffled_steps_in_several_calls_equal_the_reference(rng, loss):
    engine = Engine(STEPS, np.float64)
    engine.params[:] = rng.standard_normal(engine.size) * 0.5
    engine.set_loss(loss, None)
    x = rng.standard_normal((37, 5))
    classes = rng.integers(0, 3, 37)
    labels = classes.astype(np.int32) if loss.startswith("sparse") else None
    targets = None if labels is not None else np.eye(3)[classes] * 0.8 + 0.05
    order = rng.permutation(37).astype(np.int64)
    rule = SGD(0.1).build(engine.size, np.float64)
    expected = engine.params.copy()
    for step in range(5):  # batches of 8, the last of 5
        rows = order[step * 8:(step + 1) * 8]
        expected = reference_step(engine, expected, x[rows], classes[rows] if labels is not None
                                  else targets[rows], loss)
    # steps 0-1, then 2-4 (asking for more steps than there are), as fit's slices do
    engine.train(x, labels, targets, order, 0, 2, 8, rule)
    _, _, samples, bad = engine.train(x, labels, targets, order, 2, 9, 8, rule)
    assert (samples, bad) == (37 - 16, -1)
    np.testing.assert_allclose(engine.params, expected, rtol=1e-12, atol=1e-13)


def test_rows_in_order_equal_the_reference(rng):
    engine = Engine(STEPS, np.float64)
    engine.params[:] = rng.standard_normal(engine.size) * 0.5
    engine.set_loss("sparse_categorical_crossentropy", None)
    x = rng.standard_normal((20, 5))
    labels = rng.integers(0, 3, 20).astype(np.int32)
    expected = engine.params.copy()
    for step in range(3):
        expected = reference_step(engine, expected, x[step * 8:(step + 1) * 8],
                                  labels[step * 8:(step + 1) * 8], "sparse_categorical_crossentropy")
    rule = SGD(0.1).build(engine.size, np.float64)
    engine.train(x, labels, None, None, 0, 1, 8, rule)
    engine.train(x, labels, None, None, 1, 2, 8, rule)
    np.testing.assert_allclose(engine.params, expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [100.0, 300.0])
def test_softmax_output_of_large_logits(rng, dtype, scale):
    # logits of ±100 and more: exp overflows unless the row's maximum is subtracted first
    engine = Engine([DenseStep(4, 5, "softmax", True)], dtype)
    w, b = engine.views(0)
    w[...] = rng.standard_normal((4, 5))
    b[...] = rng.standard_normal(5) * scale
    engine.publish()
    x = rng.standard_normal((9, 4)).astype(dtype)
    logits = x.astype(np.float64) @ w.astype(np.float64) + b.astype(np.float64)
    assert np.abs(logits).max() >= 100
    expected = ref.activation(logits, "softmax")
    out = engine.predict(x, 32)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, expected, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-6)
    labels = rng.integers(0, 5, 9).astype(np.int32)
    loss_sum, _ = engine.evaluate(x, labels, None, 32, "sparse_categorical_crossentropy", None)
    assert loss_sum == pytest.approx(ref.loss_sum("sparse_categorical_crossentropy", expected, labels),
                                     rel=1e-4 if dtype == np.float32 else 1e-10)
