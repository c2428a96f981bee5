"""Denormals are flushed to zero inside fastmlp's compiled loops (Adam's moments never become
subnormal, which would slow every step), and only there: the caller's floating-point state is
the same after fit, evaluate, predict and an optimizer step as before."""
import inspect

import numpy as np
from conftest import run_isolated

import fastmlp as keras

TINY = np.finfo(np.float32).tiny


def subnormals(a):
    return int(((a != 0) & (np.abs(a) < TINY)).sum())


def caller_keeps_subnormals():
    # with FTZ/DAZ left on in this thread, both products would be 0
    x = np.array([1e-39, 3e-42], np.float32)
    return bool(np.all(x * np.float32(1.0) != 0)) and np.float32(1e-20) * np.float32(1e-20) != 0


def _fitted_then_silent_input(rng):
    """A model fitted with input 0 informative, and 1,000 rows in which input 0 is always zero:
    its weights' gradients are then 0 for 1,000 steps, and 0.9^1000 takes Adam's first moment
    through the subnormal range."""
    model = keras.Sequential([keras.layers.Dense(4, activation="relu", input_dim=3), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((64, 3)).astype(np.float32)
    model.fit(x, x.sum(1), epochs=2, verbose=0)
    x[:, 0] = 0
    return model, np.repeat(x, 16, axis=0)[:1000]


def test_adam_moments_never_become_subnormal_in_fit(rng):
    model, x = _fitted_then_silent_input(rng)
    model.fit(x, x.sum(1), batch_size=1, epochs=1, verbose=0, shuffle=False)
    m, v = model.optimizer._rule.slots
    assert subnormals(m) == 0 and subnormals(v) == 0
    assert caller_keeps_subnormals()
    model.evaluate(x, x.sum(1), verbose=0)
    model.predict(x, verbose=0)
    assert caller_keeps_subnormals()


def test_optimizer_steps_flush_too_and_restore_the_callers_state():
    rule = keras.optimizers.Adam().build(1000, np.float32)
    w = np.zeros(1000, np.float32)
    rule.step(w, np.full(1000, 1e-20, np.float32))
    for _ in range(1500):
        rule.step(w, np.zeros(1000, np.float32))
    m, v = rule.slots
    assert subnormals(m) == 0 and subnormals(v) == 0
    assert caller_keeps_subnormals()


def test_the_flush_switched_off_lets_moments_fall_subnormal():
    """The benchmark's ablation switch (network.set_flush_denormals) really turns the flush
    off, and only for as long as it is off; the caller's state is untouched either way. In a
    subprocess: restoring a state the flush did not read (MXCSR 0) would unmask every
    floating-point exception, and the next underflow would kill the process."""
    helpers = "".join(inspect.getsource(f) + "\n" for f in (subnormals, caller_keeps_subnormals,
                                                              _fitted_then_silent_input))
    out = run_isolated("import numpy as np\nimport fastmlp as keras\n"
                       "from fastmlp._kernels import network\n"
                       f"TINY = np.finfo(np.float32).tiny\n{helpers}" + """
model, x = _fitted_then_silent_input(np.random.default_rng(1234))
print(network.flush_denormals())
network.set_flush_denormals(False)
try:
    print(not network.flush_denormals())
    model.fit(x, x.sum(1), batch_size=1, epochs=1, verbose=0, shuffle=False)
finally:
    network.set_flush_denormals(True)
m, _ = model.optimizer._rule.slots
print(subnormals(m) > 0, caller_keeps_subnormals())
model.fit(x, x.sum(1), batch_size=1, epochs=1, verbose=0, shuffle=False)
m, _ = model.optimizer._rule.slots
print(subnormals(m) == 0, caller_keeps_subnormals())
""")
    assert out.split() == ["True"] * 6
