"""evaluate on several threads (Network.evaluate with parts, engine.evaluate): the threads
claim chunks of whole passes, each pass writes its sums, and the caller adds them up in pass
order, so the loss and metrics are the one-thread bits whatever the thread count, batch
size, loss, sample weights and penalties, and whether the helper was spinning, asleep or
woken late. Each scenario runs in an interpreter of its own with a timeout (a lost hand-off
fails its test instead of hanging the run)."""
import numpy as np
import pytest
from conftest import run_isolated

from fastmlp._kernels import network as network_module
from fastmlp._kernels.small_gemm import small_gemm_level

pytestmark = pytest.mark.skipif(small_gemm_level() == 0 or not network_module.HANDOFF,
                                reason="no own GEMM (inference on BLAS) or no atomics: one thread")

SETUP = """
import threading, time
import numpy as np
import fastmlp
from fastmlp import config, layers, regularizers
from fastmlp._kernels import network
fastmlp.utils.set_random_seed(0)
rng = np.random.default_rng(0)
def both(model, rows, *args, **kwargs):
    # (one thread, two threads) of model.evaluate, the call split across two threads
    config.set_num_threads(2)
    assert model.engine._parts(rows) == 2, model.engine._parts(rows)
    two = model.evaluate(*args, verbose=0, **kwargs)
    config.set_num_threads(1)
    one = model.evaluate(*args, verbose=0, **kwargs)
    config.set_num_threads(2)
    return one, two
"""


def test_sparse_cross_entropy_and_accuracy_give_the_one_thread_bits():
    out = run_isolated(SETUP + """
model = fastmlp.Sequential([layers.Dense(100, activation="relu", input_shape=(784,)),
                            layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
              metrics=["accuracy", "sparse_top_k_categorical_accuracy"])
x = rng.random((3001, 784), dtype=np.float32)
y = rng.integers(0, 10, 3001)
for batch in (32, 100, 1000, 7, 3001):
    for rows in (3001, 1500, 423):
        one, two = both(model, rows, x[:rows], y[:rows], batch_size=batch)
        assert one == two and len(one) == 3, (batch, rows, one, two)
time.sleep(0.05)  # the helper sleeps: the call wakes it
one, two = both(model, 3001, x, y, batch_size=32)
assert one == two
print("ok")
""", timeout=120)
    assert out.strip() == "ok"


def test_targets_sample_weights_and_penalties_give_the_one_thread_bits():
    out = run_isolated(SETUP + """
model = fastmlp.Sequential([
    layers.Dense(200, activation="relu", input_shape=(300,),
                 kernel_regularizer=regularizers.L2(0.01), activity_regularizer=regularizers.L1(0.02)),
    layers.Dropout(0.3),
    layers.BatchNormalization(),
    layers.Dense(50, activation="tanh", activity_regularizer=regularizers.L2(0.05)),
    layers.Dense(4, activation="softmax")])
model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
x = rng.random((4000, 300), dtype=np.float32)
y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 4000)]
w = rng.random(4000).astype(np.float32)
model.fit(x[:256], y[:256], epochs=1, verbose=0)  # moving statistics other than the start
rows = 4000
for batch in (32, 500):
    one, two = both(model, rows, x, y, batch_size=batch, sample_weight=w)
    assert one == two, (batch, one, two)
    one, two = both(model, rows, x, y, batch_size=batch)
    assert one == two, (batch, one, two)
mse = fastmlp.Sequential([layers.Dense(200, activation="relu", input_shape=(300,),
                                       activity_regularizer=regularizers.L2(0.1)),
                          layers.Dense(3)])
mse.compile(optimizer="sgd", loss="mse")
t = rng.random((4000, 3), dtype=np.float32)
one, two = both(mse, rows, x, t, batch_size=64)
assert one == two, (one, two)
print("ok")
""", timeout=120)
    assert out.strip() == "ok"


def test_a_helper_woken_late_leaves_its_passes_to_the_caller():
    code = SETUP + """
model = fastmlp.Sequential([layers.Dense(100, activation="relu", input_shape=(784,)),
                            layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
x = rng.random((2000, 784), dtype=np.float32)
y = rng.integers(0, 10, 2000)
config.set_num_threads(1)
expected = model.evaluate(x, y, batch_size=32, verbose=0)
config.set_num_threads(2)
wake = fastmlp.parallel.part_helpers(1)[0]
woken = []
class Late:  # wakes the sleeping helper only after the caller has claimed every chunk
    def set(self):
        woken.append(1)
        threading.Timer(0.05, wake.set).start()
import fastmlp.engine as engine_module
real = engine_module.part_helpers
engine_module.part_helpers = lambda count: [Late()] if count else []
for _ in range(3):
    time.sleep(0.05)  # the helper sleeps: posting to it needs a wake-up
    assert network.box_state(0) == 0
    assert model.evaluate(x, y, batch_size=32, verbose=0) == expected
engine_module.part_helpers = real
print("ok", len(woken))  # each call posted a part to the helper
"""
    assert run_isolated(code, timeout=60).split() == ["ok", "3"]


def test_evaluate_checks_its_parts():
    import fastmlp
    from fastmlp.engine import LOSS_CODES
    model = fastmlp.Sequential([fastmlp.layers.Dense(4, input_shape=(3,))])
    model.compile(loss="mse")
    net = model.engine.network
    x = np.ones((8, 3), np.float32)
    t = np.zeros((8, 4), np.float32)
    args = (model.engine.published, x, None, t, 8, LOSS_CODES["mean_squared_error"], (), 1e-7, None)
    with pytest.raises(ValueError, match="parts"):
        net.evaluate(*args, 3, [object()])
    with pytest.raises(ValueError, match="parts"):
        net.evaluate(*args, 0, [])
    # more parts than passes (here one): as many threads as passes, no helper asked
    assert net.evaluate(*args, 2, [object()]) == net.evaluate(*args, 1, [])
