"""Lone calls (Network's WIDE_CHUNKS, SPLIT_MIN_MACS): while an inference call runs alone, a
one- or two-row call of a large enough float32 network splits its dense steps' columns with
part helper 0, and a call of more rows hands it half of them; both give the one-thread bits.
Checked: the bits across widths, activations, dropout, row counts and both GEMM levels; the
rule (num_threads 1, another caller or a training call beside it, a helper asleep and a
stream that wakes it); a share taken back from a helper that never ran (one core); a forked
child; which networks split. Each scenario runs in an interpreter of its own with a timeout,
so a lost hand-off fails its test instead of hanging the run."""
import os

import pytest
from conftest import run_isolated

import fastmlp
from fastmlp._kernels import network as network_module
from fastmlp._kernels.small_gemm import small_gemm_level

own_gemm = pytest.mark.skipif(small_gemm_level() == 0 or not network_module.HANDOFF,
                              reason="no own GEMM (inference on BLAS) or no atomics: no wide calls")
pinnable = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"),
                              reason="the scenario pins the process to chosen cores (Linux)")

PRELUDE = """
import threading, time
import numpy as np
import fastmlp
from fastmlp import config
from fastmlp._kernels import network
fastmlp.utils.set_random_seed(0)
def build(widths, activations, last="softmax", dropout=False, n_in=784):
    layers = [fastmlp.Input(shape=(n_in,))]
    for units, act in zip(widths, activations):
        layers.append(fastmlp.layers.Dense(units, activation=act))
        if dropout:
            layers.append(fastmlp.layers.Dropout(0.5))
    layers.append(fastmlp.layers.Dense(10, activation=last))
    return fastmlp.Sequential(layers)
def inputs(seed, rows=1, n_in=784):
    return np.random.default_rng(seed).random((rows, n_in), dtype=np.float32)
def whole(model, x):
    config.set_num_threads(1)
    try:
        return model(x)
    finally:
        config.set_num_threads(2)
def posted():
    return network.wide_state()["posted"]
def stream(model, x, seconds=0.03):
    # back-to-back calls: a helper woken from its sleep needs the GIL once to get back to
    # spinning, which a caller releasing it only briefly lets go after the switch interval
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        model(x)
"""
SETUP = PRELUDE + "config.set_num_threads(2)\n"


@own_gemm
def test_wide_calls_give_the_one_thread_bits():
    out = run_isolated(SETUP + """
cases = [((300, 200, 100), ("relu", "relu", "relu"), "softmax", False),
         ((1, 15, 16, 17), ("tanh", "sigmoid", "elu", "linear"), "linear", False),
         ((33, 64, 129), ("gelu", "selu", "leaky_relu"), "sigmoid", True),
         ((300,), ("swish",), "softmax", False)]
from fastmlp._kernels.small_gemm import small_gemm_level
levels = sorted({1, small_gemm_level()})  # AVX2 with FMA, and AVX-512 where the CPU has it
bad = []
for widths, acts, last, dropout in cases:
    model = build(widths, acts, last, dropout)
    net = model.engine.network
    net.set_wide_min_macs(0)
    assert net.wide, widths
    for level in levels:
        net.set_gemm_levels(level, net.gemm_levels[1])
        stream(model, inputs(99))
        for seed in range(30):
            x = inputs(seed, rows=1 + seed % 2)
            got = model(x)
            if not np.array_equal(got, whole(model, x)):
                bad.append((widths, level, seed))
print(len(bad), bad[:3], posted() > 100, network.wide_state()["helper_chunks"] > 0)
""", timeout=120)
    assert out.split()[:1] == ["0"] and out.split()[-2:] == ["True", "True"], out


@own_gemm
def test_lone_calls_of_more_rows_hand_half_to_the_helper_with_the_same_bits():
    out = run_isolated(SETUP + """
from fastmlp._kernels.small_gemm import small_gemm_level
bad = []
for widths, acts in (((300, 200, 100), ("relu",) * 3), ((17, 33), ("tanh", "elu"))):
    model = build(widths, acts)
    net = model.engine.network
    net.set_split_min_macs(0)
    for level in sorted({1, small_gemm_level()}):
        net.set_gemm_levels(level, net.gemm_levels[1])
        stream(model, inputs(98, rows=8))
        for rows in (3, 4, 5, 8, 31, 64, 101):
            for seed in range(3):
                x = inputs(seed, rows=rows)
                if not np.array_equal(model(x), whole(model, x)):
                    bad.append((widths, level, rows, seed))
state = network.wide_state()
print(len(bad), bad[:3], state["helper_parts"] > 0, net.split_rows_from())
""", timeout=120)
    assert out.split()[0] == "0" and out.split()[-2:] == ["True", "3"], out


@own_gemm
@pinnable
def test_on_one_core_the_caller_takes_back_a_share_its_helper_never_ran():
    out = run_isolated("""
import os
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # the helper shares this core
""" + SETUP + """
config.set_num_threads(2)  # set_num_threads counts cores no more: two threads on one core
model = build((300, 200, 100), ("relu",) * 3)
model.engine.network.set_split_min_macs(0)
bad = 0
for rows in (1, 2, 8, 64):
    x = inputs(rows, rows=rows)
    expected = whole(model, x)
    end = time.perf_counter() + 0.2
    while time.perf_counter() < end:
        bad += not np.array_equal(model(x), expected)
state = network.wide_state()
print(bad, state["posted"] > state["helper_parts"] + 10)
""", timeout=60)
    assert out.split() == ["0", "True"], out


@own_gemm
def test_a_lone_caller_splits_and_concurrent_callers_keep_their_calls_whole():
    out = run_isolated(SETUP + """
model = build((300, 200, 100), ("relu",) * 3)
assert model.engine.network.wide
x = inputs(1)
expected = whole(model, x)
before = posted()
stream(model, x)
lone = posted() - before
before = posted()
# calls count as shared for 100x the default window after overlapping (about 1 s), so the read
# right after the join below cannot come after it on a busy machine (the first call reads the
# default; no call has overlapped yet, so its window of 0 changes nothing)
quiet = network.set_wide_quiet_ticks(0)
network.set_wide_quiet_ticks(100 * quiet)
start, bad, stop = threading.Barrier(2), [], time.perf_counter() + 0.3
counts, overlapping = [0, 0], []
def call(i):
    start.wait()
    while time.perf_counter() < stop:
        if not np.array_equal(model(x), expected):
            bad.append(1)
        counts[i] += 1
        if not overlapping and min(counts) >= 10:
            overlapping.append(posted())  # both in their loops: they overlap within a few calls
callers = [threading.Thread(target=call, args=(i,)) for i in range(2)]
for t in callers: t.start()
for t in callers: t.join()
together = posted() - overlapping[0]
alone_right_after = network.wide_state()["alone"]
network.set_wide_quiet_ticks(quiet)  # the default window again, from now
time.sleep(0.05)
print(lone >= 100, together <= 3, len(bad), alone_right_after, network.wide_state()["alone"])
""", timeout=60)
    assert out.split() == ["True", "True", "0", "False", "True"], out


@own_gemm
def test_one_thread_or_a_training_call_beside_keeps_calls_whole():
    out = run_isolated(SETUP + """
model = build((300, 200, 100), ("relu",) * 3)
x = inputs(2)
config.set_num_threads(1)
before = posted()
for _ in range(50):
    model(x)
one_thread = posted() - before
config.set_num_threads(2)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
data = inputs(3, rows=20000)
labels = np.random.default_rng(4).integers(0, 10, 20000).astype(np.int32)
trainer = threading.Thread(target=lambda: model.fit(data, labels, batch_size=32, epochs=1, verbose=0))
trainer.start()
while network.wide_state()["in_flight"] == 0:
    time.sleep(0.001)
before = posted()
for _ in range(50):
    model(x)
beside = posted() - before
trainer.join()
print(one_thread, beside)
""", timeout=120)
    assert out.split() == ["0", "0"], out


@own_gemm
def test_a_sleeping_helper_is_left_asleep_and_a_stream_wakes_it():
    out = run_isolated(SETUP + """
model = build((300, 200, 100), ("relu",) * 3)
x = inputs(5)
expected = whole(model, x)
for _ in range(20):
    model(x)
time.sleep(0.05)                      # the helper has gone to sleep
asleep = network.box_state(0)
before = posted()
same = np.array_equal(model(x), expected)
first = posted() - before             # it ran whole: a sleeping helper is not waited for
left = network.box_state(0)           # and a lone call does not wake it
stream(model, x)                      # a stream: woken, then it takes part
same = same and np.array_equal(model(x), expected)
streamed = posted() - before > 100
big = inputs(7, rows=64)              # 2**23 multiply-adds or more: its own half outlasts a
expected = whole(model, big)          # wake-up, so it wakes the helper for its first half
time.sleep(0.05)
asleep_again, before = network.box_state(0), posted()
same = same and np.array_equal(model(big), expected)
print(asleep, first, left, same, streamed, asleep_again, posted() - before)
""", timeout=60)
    assert out.split() == ["0", "0", "0", "True", "True", "0", "1"], out


@own_gemm
@pinnable
@pytest.mark.skipif(hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) < 2,
                    reason="one core: the default thread count is 1")
def test_lone_calls_share_with_the_default_thread_count():
    out = run_isolated(PRELUDE + """
import os
os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:2]))  # two cores: the default
model = build((100,), ("relu",))
stream(model, inputs(0, rows=64), seconds=0.1)
print(config.num_threads(), network.wide_state()["helper_parts"] > 0)
""", timeout=60)
    assert out.split() == ["2", "True"], out


@own_gemm
def test_a_forked_child_splits_with_a_helper_of_its_own():
    out = run_isolated(SETUP + """
import os
model = build((300, 200, 100), ("relu",) * 3)
x = inputs(6)
expected = whole(model, x)
stream(model, x)
pid = os.fork()
if pid == 0:
    import signal
    signal.alarm(30)  # a child that hangs is killed, even after its parent was
    before, helped = posted(), network.wide_state()["helper_chunks"]
    # streams until the child's own helper has shared calls (at once on an idle machine; a
    # loaded one can keep the new helper off the CPU for a while), every result checked
    ok, deadline = True, time.perf_counter() + 10
    while True:
        stream(model, x)
        ok = ok and all(np.array_equal(model(x), expected) for _ in range(100))
        shared = posted() - before > 100 and network.wide_state()["helper_chunks"] > helped
        if shared or time.perf_counter() > deadline:
            break
    os._exit(0 if ok and shared else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
""", timeout=60)
    assert out.strip() == "0"


def test_which_networks_split():
    def network(*layers):
        return fastmlp.Sequential([fastmlp.Input(shape=(784,)), *layers]).engine.network
    dense = fastmlp.layers.Dense
    wide = small_gemm_level() > 0
    m2 = network(dense(300, activation="relu"), dense(200, activation="relu"),
                 dense(100, activation="relu"), dense(10, activation="softmax"))
    assert m2.wide == wide
    m1 = network(dense(100, activation="relu"), dense(10, activation="softmax"))
    assert not m1.wide  # 78,400 multiply-adds a row before the last step: under WIDE_MIN_MACS
    m1.set_wide_min_macs(78_400)
    assert m1.wide == wide
    m1.set_wide_min_macs(78_401)
    assert not m1.wide
    one_step = network(dense(1000, activation="softmax"))
    one_step.set_wide_min_macs(0)
    assert not one_step.wide  # nothing before the last step
    softmax_inside = network(dense(300, activation="softmax"), dense(10))
    softmax_inside.set_wide_min_macs(0)
    assert not softmax_inside.wide
    normalized = network(dense(300), fastmlp.layers.BatchNormalization(), dense(10))
    normalized.set_wide_min_macs(0)
    assert not normalized.wide
    fastmlp.config.set_floatx("float64")
    try:
        double = network(dense(300), dense(10))
    finally:
        fastmlp.config.set_floatx("float32")
    double.set_wide_min_macs(0)
    assert not double.wide  # on BLAS
    if wide:
        assert m2.split_rows_from() == 7
        m2.set_gemm_levels(0, m2.gemm_levels[1])
        assert not m2.wide and m2.split_rows_from() == 0  # on BLAS
    with pytest.raises(ValueError, match="macs"):
        m2.set_wide_min_macs(-1)
    with pytest.raises(ValueError, match="macs"):
        m2.set_split_min_macs(-1)
    # lone calls of 3+ rows split from SPLIT_MIN_MACS (2**21) multiply-adds: M2 316,200 a row
    assert m1.split_rows_from() == (27 if wide else 0)  # 79,510 a row
    assert double.split_rows_from() == 0


def test_set_wide_threads_checks_its_arguments():
    with pytest.raises(ValueError, match="threads"):
        network_module.set_wide_threads(0)
    with pytest.raises(ValueError, match="starter"):
        network_module.set_wide_threads(2, None)


@own_gemm
def test_shared_lone_calls_reject_a_non_finite_input():
    """A lone call that shares with its helper still finds a NaN or ±inf in x: a wide call
    (columns shared) checks x before it runs, a call of more rows checks each half in its
    passes (the helper's half too). Every bad call raises; the helper shared them."""
    out = run_isolated(SETUP + """
results = []
for rows, setter in ((1, "set_wide_min_macs"), (8, "set_split_min_macs")):
    model = build((300, 200, 100), ("relu",) * 3)
    getattr(model.engine.network, setter)(0)
    stream(model, inputs(97, rows=rows))
    before, raised = posted(), 0
    for seed in range(60):
        x = inputs(seed, rows=rows)
        x[seed % rows, (37 * seed) % 784] = (np.nan, np.inf, -np.inf)[seed % 3]
        try:
            model(x)
        except ValueError as error:
            raised += "NaN or infinity" in str(error)
        model(inputs(seed, rows=rows))  # a good call between keeps the helper spinning
    results += [raised, posted() - before > 30]
print(*results)
""", timeout=120)
    assert out.split()[-4:] == ["60", "True", "60", "True"], out
