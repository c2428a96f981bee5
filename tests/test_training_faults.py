"""Faults during fit: a loss or weights that turn NaN or infinite leave the model with its last
finite weights and optimizer state (exactly those of the last good step), and Ctrl-C stops
training within the epoch, leaving a usable model."""
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastmlp as keras


def diverging_model(lr):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.layers.Dense(8, input_dim=4), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    return model


def diverging_data():
    rng = np.random.default_rng(7)
    return rng.standard_normal((64, 4)) * 100, rng.standard_normal(64) * 100


def test_nan_loss_keeps_exactly_the_last_finite_step():
    x, y = diverging_data()
    model = diverging_model(0.05)
    start = model.get_weights()
    with pytest.raises(FloatingPointError) as info:
        model.fit(x, y, epochs=50, batch_size=8, verbose=0, shuffle=False)
    message = str(info.value)
    assert "last finite weights and optimizer state" in message
    step = int(message.split("those after step ")[1].split()[0])
    epoch = int(message.split(" of epoch ")[1].split(".")[0])
    weights = model.get_weights()
    assert all(np.isfinite(w).all() for w in weights)
    assert np.isfinite(model.predict(x, verbose=0)).all()
    model.set_weights(model.get_weights())  # a usable model
    # the same training, stopped by hand after that step, gives the same weights bit for bit
    again = diverging_model(0.05)
    again.set_weights(start)
    if epoch > 1:
        again.fit(x, y, epochs=epoch - 1, batch_size=8, verbose=0, shuffle=False)
    again.fit(x[:8 * step], y[:8 * step], epochs=1, batch_size=8, verbose=0, shuffle=False)
    for got, want in zip(weights, again.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert model.optimizer.iterations == again.optimizer.iterations


def test_weights_that_overflow_on_the_last_step_are_rolled_back():
    # one step whose loss is finite but whose update overflows float32: no later loss can
    # see it, the check of the weights after the compiled call does
    model = keras.Sequential([keras.layers.Dense(1, input_dim=1, kernel_initializer="ones")])
    model.compile(optimizer=keras.optimizers.SGD(1e20), loss="mse")
    before = model.get_weights()
    with pytest.raises(FloatingPointError, match="weights became NaN or infinite.*those it had at the start"):
        model.fit(np.full((4, 1), 1e10), np.zeros(4), batch_size=4, verbose=0)
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    assert model.optimizer.iterations == 0


def test_weights_that_overflow_mid_epoch_are_replayed_to_the_last_finite_step():
    # batch 10 (of 20) has a finite loss but an update that overflows the weights; batch 11's
    # loss is then NaN. The weights after step 10 are not finite, so fit goes back to its
    # checkpoint and replays the steps up to the last whose weights are finite: step 10
    rng = np.random.default_rng(1)
    x = rng.standard_normal((160, 4)) * 1e-3
    x[80:88] = 1e18
    y = np.zeros(160)
    model = keras.Sequential([keras.layers.Dense(1, input_dim=4, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(1e4), loss="mse")
    start = model.get_weights()
    with pytest.raises(FloatingPointError, match="loss became NaN or infinite at epoch 1, step 12 "
                                                 "of 20.*those after step 10 of epoch 1"):
        model.fit(x, y, batch_size=8, verbose=0, shuffle=False)
    again = keras.Sequential([keras.layers.Dense(1, input_dim=4, use_bias=False)])
    again.compile(optimizer=keras.optimizers.SGD(1e4), loss="mse")
    again.set_weights(start)
    again.fit(x[:80], y[:80], batch_size=8, verbose=0, shuffle=False)
    for got, want in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert model.optimizer.iterations == 10


def test_optimizer_state_is_rolled_back_with_the_weights():
    x, y = diverging_data()
    model = keras.Sequential([keras.layers.Dense(8, input_dim=4), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    with pytest.raises(FloatingPointError):
        model.fit(x, y, epochs=50, batch_size=8, verbose=0)
    iterations, (momentum,) = model.optimizer._rule.get_state()
    assert np.isfinite(momentum).all() and iterations == model.optimizer.iterations
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_evaluate_refuses_a_loss_that_overflows():
    model = keras.Sequential([keras.layers.Dense(1, input_dim=1, kernel_initializer="ones")])
    model.compile(loss="mse")
    with pytest.raises(FloatingPointError, match="overflow"):
        model.evaluate(np.full((2, 1), 1e30), np.zeros(2), verbose=0)


CTRL_C = """
import signal
import sys
# Python installs its KeyboardInterrupt handler only where SIGINT is not ignored, and a shell
# that starts a job in the background (nohup, &) passes SIGINT ignored down to its children
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np
import fastmlp as keras
rng = np.random.default_rng(0)
x = rng.standard_normal((20000, 512)).astype(np.float32)
y = rng.integers(0, 10, 20000)
model = keras.Sequential([keras.layers.Dense(1024, activation="relu", input_dim=512),
                          keras.layers.Dense(1024, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
class Started(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        print("started", flush=True)
try:
    model.fit(x, y, epochs=100, batch_size=32, verbose={verbose}, callbacks=[Started()])
except KeyboardInterrupt:
    steps = model.optimizer.iterations
    out = model.predict(x[:10], verbose=0)
    assert np.isfinite(out).all()
    for live, copied in zip(model.weights, model.get_weights()):
        assert np.array_equal(live, copied)  # readers see the last completed step
    model.fit(x[:64], y[:64], epochs=1, verbose=0)  # and training can go on
    print("interrupted after", steps, "steps of 625", flush=True)
"""


@pytest.mark.parametrize("verbose", [0, 2])
def test_ctrl_c_stops_fit_within_the_epoch(verbose, tmp_path):
    # an epoch of this model is 625 steps of several milliseconds each: the interrupt must land
    # long before the epoch ends (it used to wait for the end of the epoch)
    # started outside the source tree, so that it imports the installed fastmlp
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CTRL_C.format(verbose=verbose))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        first = proc.stdout.readline().strip()
        if first != "started":
            proc.kill()
            pytest.fail(f"the training process did not start: {first!r}\n{proc.stderr.read()}")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    steps = int(out.split("interrupted after ")[1].split()[0])
    assert steps < 625, out
