"""Keras parity of AMSGrad, AdamW, Nadam, gradient clipping, weight decay and learning-rate
schedules, without TensorFlow: trajectories made once by real Keras 3
(tests/data/make_keras_optimizer_golden.py wrote tests/data/keras_optimizer_golden.json)."""
import json
from pathlib import Path

import numpy as np
import pytest
from data.make_keras_golden import trajectory_inputs

import fastmlp as keras

GOLDEN = json.loads((Path(__file__).parent / "data" / "keras_optimizer_golden.json").read_text())
SPLIT = GOLDEN["split"]


def _optimizer(case):
    kwargs = dict(case["kwargs"])
    if case["schedule"]:
        kwargs["learning_rate"] = getattr(keras.optimizers.schedules, case["schedule"])(**case["schedule_kwargs"])
    return getattr(keras.optimizers, case["class"])(**kwargs)


@pytest.mark.parametrize("key", sorted(GOLDEN["cases"]))
def test_compiled_optimizer_follows_keras(key):
    case = GOLDEN["cases"][key]
    w0, grads = trajectory_inputs()
    optimizer = _optimizer(case)
    rule = optimizer.build(w0.size, np.float32, [(0, SPLIT), (SPLIT, w0.size - SPLIT)])
    w = w0.copy()
    for step, (g, scale, want) in enumerate(zip(grads, case["grad_scales"], case["path"]), start=1):
        rule.step(w, (g * np.float32(scale)).astype(np.float32))
        # within a few float32 ulps of Keras: the same operations in the same order
        np.testing.assert_allclose(w, np.float32(want), rtol=6e-7, atol=1e-8, err_msg=f"{key}, step {step}")


@pytest.mark.parametrize("key", sorted(k for k, c in GOLDEN["cases"].items() if c["schedule"]))
def test_schedules_in_numpy_give_the_compiled_rates(key):
    case = GOLDEN["cases"][key]
    schedule = getattr(keras.optimizers.schedules, case["schedule"])(**case["schedule_kwargs"])
    optimizer = keras.optimizers.SGD(schedule)
    rule = optimizer.build(4, np.float32)
    for step in range(9):
        assert rule.current_learning_rate() == pytest.approx(schedule(step), rel=1e-6), step
        assert optimizer.learning_rate == pytest.approx(schedule(step), rel=1e-6)
        rule.step(np.zeros(4, np.float32), np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="not settable"):
        optimizer.learning_rate = 0.1


def test_a_model_trains_with_each_new_setting_and_saves_it(rng, tmp_path):
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    for key, case in sorted(GOLDEN["cases"].items()):
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer=_optimizer(case), loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        for path in ("m.fastmlp", "m.keras"):
            model.save(tmp_path / path)
            again = keras.models.load_model(tmp_path / path)
            assert type(again.optimizer) is type(model.optimizer)
            assert again.optimizer.get_config() == model.optimizer.get_config(), (key, path)
            assert again.optimizer.iterations == model.optimizer.iterations == 8
            # both continue with the same state: the same weights after one more epoch
            model_copy = keras.models.load_model(tmp_path / "m.fastmlp")
            again.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
            model_copy.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
            for a, b in zip(again.get_weights(), model_copy.get_weights()):
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=f"{key} {path}")
