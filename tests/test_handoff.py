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


def test_a_helper_woken_late_leaves_its_chunks_to_the_caller():
    out = run_isolated(SETUP + """
woken = []
class Late:  # wakes the sleeping helper only after the caller has claimed every chunk
    def __init__(self, wake):
        self.wake = wake
    def set(self):
        woken.append(1)
        threading.Timer(0.05, self.wake.set).start()
x = inputs(5)
expected = one_thread(x)
model.predict_on_batch(x)
wake = fastmlp.parallel.part_helpers(1)[0]
net, published = model.engine.network, model.engine.published
for rows in (1024, 333, 2):
    time.sleep(0.05)  # the helper sleeps: posting to it needs a wake-up
    assert network.box_state(0) == 0
    out = np.empty((rows, 10), np.float32)
    assert net.predict_parts(published, x[:rows], out, 1024, 2, [Late(wake)])
    assert np.array_equal(out, expected[:rows]), rows
print(np.array_equal(model.predict_on_batch(x), expected), len(woken))
""", timeout=60)
    assert out.split() == ["True", "3"]  # each call posted a part to the helper


@pytest.mark.parametrize("rows,threads,most,least,unit", [
    (1024, 2, 327, 54, 6), (1024, 2, 109, 14, 6), (512, 2, 109, 14, 6), (5000, 4, 327, 54, 6),
    (100, 2, 327, 54, 6), (31, 2, 327, 54, 6), (1, 2, 327, 54, 6), (1000, 2, 20, 64, 6),
    (7, 8, 1, 1, 1), (1000, 3, 1000, 1, 1)])
def test_chunks_cover_the_rows_large_ones_first(rows, threads, most, least, unit):
    starts = network_module.chunk_starts(rows, threads, most, least, unit)
    sizes = np.diff(starts)
    assert starts[0] == 0 and starts[-1] == rows and (sizes > 0).all()
    least = -(-least // unit) * unit
    largest = max(least, most // unit * unit)
    assert (sizes % unit == 0)[:-1].all() and (sizes[:-1] >= least).all()
    assert (sizes <= largest).all()
    assert (np.diff(sizes) <= 0).all()  # large ones first, the last the smallest
    # each (but the last, which takes what is left) its share of the rows left, in tiles
    for start, size in zip(starts[:-2], sizes[:-1]):
        share = -(-(rows - start) // (2 * threads))
        assert size == min(max(least, -(-share // unit) * unit), largest)


def test_chunks_of_a_batch_1024_on_two_threads():
    net = network_module
    # M1 (passes of 327 rows, chunks of 54 or more) and M2 (109, 18)
    assert net.chunk_starts(1024, 2, 327, 54) == [
        0, 258, 450, 594, 702, 786, 846, 900, 954, 1008, 1024]
    assert net.chunk_starts(1024, 2, 109, 14) == [
        0, 108, 216, 324, 432, 540, 648, 744, 816, 870, 912, 942, 966, 984, 1002, 1020, 1024]
    with pytest.raises(ValueError, match="positive"):
        net.chunk_starts(0, 2, 327, 32)
    with pytest.raises(ValueError, match="positive"):
        net.chunk_starts(10, 2, 327, 32, 0)
