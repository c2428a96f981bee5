"""The hand-off of a large inference call's parts to fastmlp's helper threads
(csrc/handoff.h, Network.predict_parts, parallel.part_helpers): every part's rows come back
with the one-thread bits whether the helper was spinning or asleep, from one caller or many
at once, in a forked child, and after a failed wake-up; a helper stops spinning once idle.
Each scenario runs in an interpreter of its own with a timeout, so that a lost hand-off (a
wait that never ends) fails its test instead of hanging the run."""
import numpy as np
import pytest
from conftest import run_isolated

from fastmlp._kernels import network as network_module
from fastmlp._kernels.small_gemm import small_gemm_level

pytestmark = pytest.mark.skipif(small_gemm_level() == 0 or not network_module.HANDOFF,
                                reason="no own GEMM (inference on BLAS) or no atomics: no hand-off")

SETUP = """
import threading, time
import numpy as np
import fastmlp
from fastmlp import config
from fastmlp._kernels import network
fastmlp.utils.set_random_seed(0)
model = fastmlp.Sequential([fastmlp.layers.Dense(100, activation="relu", input_shape=(784,)),
                            fastmlp.layers.Dense(10, activation="softmax")])
def inputs(seed, rows=1024):
    return np.random.default_rng(seed).random((rows, 784), dtype=np.float32)
def one_thread(x):
    config.set_num_threads(1)
    try:
        return model.predict_on_batch(x)
    finally:
        config.set_num_threads(2)
config.set_num_threads(2)
assert model.engine._parts(1024) == 2
"""


def test_parts_give_the_one_thread_bits_with_the_helper_spinning_or_asleep():
    out = run_isolated(SETUP + """
for seed in range(40):  # back to back: the helper spins between parts
    x = inputs(seed)
    assert np.array_equal(model.predict_on_batch(x), one_thread(x)), seed
for seed in range(5):   # idle in between: the helper sleeps and the caller wakes it
    time.sleep(0.02)
    assert network.box_state(0) == 0
    x = inputs(100 + seed, rows=1024 + seed)
    assert np.array_equal(model.predict_on_batch(x), one_thread(x)), seed
print("ok")
""", timeout=60)
    assert out.strip() == "ok"


def test_an_idle_helper_stops_spinning():
    out = run_isolated(SETUP + """
model.predict_on_batch(inputs(0))
spinning = network.box_state(0)
time.sleep(0.05)
print(spinning in (0, 1), network.box_state(0))
""", timeout=60)
    assert out.split() == ["True", "0"]


def test_callers_at_once_share_the_helper_and_get_their_own_rows():
    out = run_isolated(SETUP + """
xs = [inputs(seed) for seed in range(4)]
expected = [one_thread(x) for x in xs]
start, bad = threading.Barrier(4), []
def call(i):
    start.wait()
    for _ in range(15):
        if not np.array_equal(model.predict_on_batch(xs[i]), expected[i]):
            bad.append(i)
callers = [threading.Thread(target=call, args=(i,)) for i in range(4)]
for t in callers: t.start()
for t in callers: t.join()
print(len(bad))
""", timeout=60)
    assert out.strip() == "0"


def test_a_forked_child_starts_its_own_helpers():
    out = run_isolated(SETUP + """
import os
x = inputs(7)
expected = model.predict_on_batch(x)  # the parent's helper runs now
pid = os.fork()
if pid == 0:
    import signal
    signal.alarm(30)  # a child that hangs is killed, even after its parent was
    ok = np.array_equal(model.predict_on_batch(x), expected) and network.box_state(0) in (0, 1)
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
""", timeout=60)
    assert out.strip() == "0"


def test_a_failed_wake_up_withdraws_the_part_and_leaves_the_box_usable():
    out = run_isolated(SETUP + """
class Broken:
    def set(self):
        raise RuntimeError("wake-up failed")
x = inputs(3)
expected = one_thread(x)
model.predict_on_batch(x)
time.sleep(0.05)  # the helper sleeps: posting to it needs a wake-up
net, published = model.engine.network, model.engine.published
out = np.empty((1024, 10), np.float32)
try:
    net.predict_parts(published, x, out, 1024, 2, [Broken()])
except RuntimeError as e:
    print("raised", e)
print(network.box_state(0))
print(np.array_equal(model.predict_on_batch(x), expected))
""", timeout=60)
    assert out.splitlines() == ["raised wake-up failed", "0", "True"]


def test_predict_parts_checks_its_parts():
    import fastmlp
    model = fastmlp.Sequential([fastmlp.layers.Dense(4, input_shape=(3,))])
    net = model.engine.network
    x = np.ones((8, 3), np.float32)
    out = np.empty((8, 4), np.float32)
    with pytest.raises(ValueError, match="parts"):
        net.predict_parts(model.engine.published, x, out, 8, 3, [object()])
    net.predict_parts(model.engine.published, x, out, 8, 1, [])
    np.testing.assert_array_equal(out, model.predict_on_batch(x))
