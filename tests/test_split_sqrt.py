"""float32 Adam, RMSprop and Adagrad with half their square roots by FMAs (csrc/split_sqrt.h):
the same bits as the elementwise clone's loops, over every float the FMA square root takes and
over steps with the values that must not take it (NaN, inf, -0, subnormal and tiny moments)."""
import numpy as np
import pytest
from conftest import run_isolated

import fastmlp as keras
from fastmlp._kernels import optim
from fastmlp.bench.environment import cpu_identity

needs_split = pytest.mark.skipif(optim.split_sqrt_level() < 1,
                                 reason="no split square roots on this CPU (AVX-512 only)")

# every split level this CPU has: 1 (one vector in 2 by FMAs), 2 (one in 4)
LEVELS = list(range(1, optim.split_sqrt_level() + 1)) or [1]

# +0 and every float of [2^-100, FLT_MAX]
FMA_LANES = 1 + int(np.float32(np.finfo(np.float32).max).view(np.uint32)) - int(
    np.float32(2.0 ** -100).view(np.uint32)) + 1

# each rule with settings that reach every branch of its loop
RULES = {
    "adam": lambda eps: keras.optimizers.Adam(learning_rate=0.01, epsilon=eps),
    "rmsprop": lambda eps: keras.optimizers.RMSprop(learning_rate=0.01, epsilon=eps),
    "rmsprop-momentum": lambda eps: keras.optimizers.RMSprop(learning_rate=0.01, momentum=0.9,
                                                             epsilon=eps),
    "adagrad": lambda eps: keras.optimizers.Adagrad(learning_rate=0.01, epsilon=eps),
}


@needs_split
@pytest.mark.parametrize("flush", [True, False], ids=["flush", "caller-state"])
def test_fma_square_root_is_vsqrtps_over_every_float_it_takes(flush):
    taken, wrong = optim.sqrt_by_fma_mismatches(0, 1 << 32, flush)
    assert (taken, wrong) == (FMA_LANES, 0)


@needs_split
def test_fma_square_root_counts_a_short_range():
    # 2^-100 and the 4 floats after it, then +0 alone: the lane mask of a partial vector
    start = int(np.float32(2.0 ** -100).view(np.uint32))
    assert optim.sqrt_by_fma_mismatches(start, start + 5) == (5, 0)
    assert optim.sqrt_by_fma_mismatches(0, 1) == (1, 0)
    assert optim.sqrt_by_fma_mismatches(start - 16, start) == (0, 0)


def _gradients(size, steps, rng):
    """Steps of gradients mixing ordinary values with the ones that must take vsqrtps."""
    specials = np.array([0.0, -0.0, 1e-25, -3e-30, 1e-19, 1e-45, 2e19, -3e19, np.inf,
                         -np.inf, np.nan, 1e-38, 7e-16], dtype=np.float32)
    out = []
    for step in range(steps):
        g = (rng.standard_normal(size) * 10.0 ** rng.integers(-12, 3, size)).astype(np.float32)
        if step % 3 == 1:  # a few specials among ordinary values
            at = rng.integers(0, size, max(1, size // 50))
            g[at] = rng.choice(specials, at.size)
        if step % 5 == 2:  # whole runs of zeros and of tiny values (moments decaying)
            g[: size // 3] = 0.0
            g[size // 3: size // 2] = np.float32(1e-24)
        out.append(g)
    return out


def _bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def _run_rule(make, size, grads, level, w0, slots0):
    """Every step's weights and slots, as bits (a NaN later in the run must not hide a step
    that differed)."""
    rule = make().build(size, np.float32)
    rule.split_level = level
    rule.set_state(0, slots0)
    w = w0.copy()
    states = []
    for g in grads:
        rule.step(w, g)
        states.append(np.concatenate([_bits(w)] + [_bits(s) for s in rule.get_state()[1]]))
    return w, states


@needs_split
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("epsilon", [1e-7, 1e-30])  # 1e-30: tiny moments' roots count
@pytest.mark.parametrize("size", [1, 31, 32, 33, 63, 64, 65, 95, 1000, 79510])
def test_split_step_gives_the_clones_bits(size, epsilon, rule, level):
    rng = np.random.default_rng(size)
    grads = _gradients(size, 40, rng)
    w0 = rng.standard_normal(size).astype(np.float32)
    make = RULES[rule]
    n_slots = len(make(epsilon).build(size, np.float32).get_state()[1])
    slots0 = [np.zeros(size, np.float32) for _ in range(n_slots)]
    # slots a checkpoint may hold: -0, subnormals, tiny, huge, inf (in the slot under the root)
    odd = np.array([-0.0, 1e-40, 3e-39, 1e-35, 2e-31, 1e30, np.inf], dtype=np.float32)
    under_root = 1 if rule == "adam" else 0
    slots0[under_root][: min(size, odd.size)] = odd[: min(size, odd.size)]
    slots0[-1][size // 2:] += np.float32(1e-30)
    w_split, split = _run_rule(lambda: make(epsilon), size, grads, level, w0, slots0)
    _, clone = _run_rule(lambda: make(epsilon), size, grads, 0, w0, slots0)
    for step, (a, b) in enumerate(zip(split, clone)):
        assert np.array_equal(a, b), f"step {step}: {int((a != b).sum())} elements differ"
    if size > odd.size:  # the steps moved ordinary weights (a weight of size 1 meets a NaN)
        moved = np.isfinite(w_split) & (w_split != w0)
        assert moved.sum() > size // 2


@needs_split
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("rule", ["Adam", "RMSprop", "Adagrad"])
@pytest.mark.parametrize("mode", ["upward", "downward", "toward_zero"])
def test_split_step_follows_a_rounding_mode_that_is_not_to_nearest(mode, rule, level):
    # the rounding test assumes round-to-nearest; under another mode the step takes vsqrtps
    # (which follows the mode) and keeps the clone's bits. Own interpreter: the mode is the
    # thread's and stays set if the test fails.
    out = run_isolated(f"""
        import ctypes, numpy as np, fastmlp as keras
        modes = {{"upward": 0x800, "downward": 0x400, "toward_zero": 0xc00}}
        libm = ctypes.CDLL("libm.so.6")
        rng = np.random.default_rng(0)
        size = 4096
        w0 = rng.standard_normal(size).astype(np.float32)
        grads = [rng.standard_normal(size).astype(np.float32) for _ in range(20)]
        out = []
        assert libm.fesetround(modes["{mode}"]) == 0
        for level in ({level}, 0):
            rule = keras.optimizers.{rule}(learning_rate=0.01).build(size, np.float32)
            rule.split_level = level
            w = w0.copy()
            for g in grads:
                rule.step(w, g)
            out.append(w.view(np.uint32).copy())
        libm.fesetround(0)
        print(int((out[0] != out[1]).sum()))
    """)
    assert out.split() == ["0"]


def _model(seed, optimizer):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.layers.Input((40,)),
                              keras.layers.Dense(70, activation="relu"),
                              keras.layers.Dense(5, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


@needs_split
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "adagrad"])
@pytest.mark.parametrize("threads", [1, 2])
def test_fit_gives_the_same_weights_split_or_not(threads, optimizer, level):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((640, 40)).astype(np.float32)
    x[x < 0.3] = 0.0
    y = rng.integers(0, 5, 640)
    weights = []
    previous = keras.config.num_threads()
    keras.config.set_num_threads(threads)
    try:
        for path in (level, 0):
            model = _model(11, optimizer)
            model.fit(x[:32], y[:32], batch_size=32, epochs=1, verbose=0, shuffle=False)
            model.optimizer._rule.split_level = path
            model.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=False)
            weights.append([w.copy() for w in model.get_weights()])
    finally:
        keras.config.set_num_threads(previous)
    for a, b in zip(*weights):
        np.testing.assert_array_equal(_bits(a), _bits(b))
    assert not np.array_equal(weights[0][0], _model(11, optimizer).get_weights()[0])  # trained


# the level measured fastest on each vendor (csrc/split_sqrt.h): (Adam, RMSprop, Adagrad)
DEFAULTS_BY_VENDOR = {"GenuineIntel": (1, 1, 1), "AuthenticAMD": (2, 2, 1)}


def test_each_rule_starts_where_it_was_measured_faster_on_this_vendor():
    vendor = cpu_identity().get("vendor")
    expected = DEFAULTS_BY_VENDOR.get(vendor, (0, 0, 0)) if optim.split_sqrt_level() else (0, 0, 0)
    built = tuple(opt().build(64, np.float32).split_level for opt in (
        keras.optimizers.Adam, keras.optimizers.RMSprop, keras.optimizers.Adagrad))
    assert built == expected, vendor
    assert tuple(optim.split_sqrt_default(r) for r in ("adam", "rmsprop", "adagrad")) == expected
    # the rules without a split loop start at 0
    assert keras.optimizers.SGD().build(64, np.float32).split_level == 0
    assert keras.optimizers.Nadam().build(64, np.float32).split_level == 0
    with pytest.raises(ValueError, match="rule"):
        optim.split_sqrt_default("sgd")


@pytest.mark.parametrize("optimizer", [keras.optimizers.Adam, keras.optimizers.SGD])
def test_split_level_is_checked(optimizer):
    rule = optimizer().build(64, np.float32)
    rule.split_level = optim.split_sqrt_level()
    assert rule.split_level == optim.split_sqrt_level()
    for bad in (-1, optim.split_sqrt_level() + 1, 1.0, "1", None, True):
        with pytest.raises(ValueError, match="split_level"):
            rule.split_level = bad
    rule.split_level = 0
    assert rule.split_level == 0


def test_sqrt_path_names_the_loop():
    path = optim.sqrt_path()
    shares = {0: "none (the clone's loop)", 1: "1 in 2", 2: "1 in 4"}
    levels = [optim.split_sqrt_default(r) for r in ("adam", "rmsprop", "adagrad")]
    if any(levels):
        assert path == ("AVX-512, vectors' square roots by FMAs instead of the divider: "
                        + ", ".join(f"{name} {shares[level]}" for name, level
                                    in zip(("Adam", "RMSprop", "Adagrad"), levels)))
    else:
        assert path == "the elementwise clone's"


def test_mismatch_counter_checks_its_range():
    if optim.split_sqrt_level() < 1:
        with pytest.raises(RuntimeError, match="split_sqrt_level"):
            optim.sqrt_by_fma_mismatches(0, 16)
        return
    for lo, hi in ((-1, 4), (5, 4), (0, (1 << 32) + 1), (0.0, 4), (0, "4")):
        with pytest.raises(ValueError, match="lo <= hi"):
            optim.sqrt_by_fma_mismatches(lo, hi)
