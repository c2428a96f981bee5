"""Calls that once crashed the interpreter or broke the model, each run in a subprocess of its
own (run_isolated), so that a crash fails its test instead of the whole run: sizes past 32
bits, plan mismatches, compiled objects misused from Python, concurrent writers, copies.
Each asserts the value or the error a user should get."""
import pytest
from conftest import run_isolated

PRELUDE = """
import numpy as np
import fastmlp as keras
rng = np.random.default_rng(0)
def expect(error, match, call):
    import re
    try:
        call()
    except error as exc:
        assert re.search(match, str(exc)), f"{error.__name__} without {match!r}: {exc}"
    else:
        raise AssertionError(f"no {error.__name__} ({match!r})")
"""


def isolated(body: str) -> None:
    out = run_isolated(PRELUDE + body + "\nprint('OK')\n")
    assert out.strip().endswith("OK"), out


# ----- sizes -------------------------------------------------------------------------------------

def test_batch_size_past_32_bits_trains_as_one_batch():
    isolated("""
x = rng.standard_normal((40, 6)).astype(np.float32)
y = rng.integers(0, 3, 40)
losses = []
for batch_size in (40, 2**31, 2**40):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_dim=6)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=batch_size, epochs=2, verbose=0, shuffle=False)
    assert model.optimizer.iterations == 2, model.optimizer.iterations
    losses.append(history.history["loss"])
assert losses[0] == losses[1] == losses[2], losses
assert model.evaluate(x, y, batch_size=2**40, verbose=0) > 0
assert model.predict(x, batch_size=2**40, verbose=0).shape == (40, 3)
""")


def test_compiled_network_sizes_its_scratch_by_the_data_not_the_batch_size():
    isolated(NETWORK + """
net.set_loss(0, 0, 1e-7)
_, _, samples, _ = net.train(x, labels, None, None, 0, 3, 2**40, rule)
assert samples == 5 and rule.iterations == 1, (samples, rule.iterations)
assert net.capacity == 5, net.capacity
""")


def test_predict_on_batch_with_scratch_past_32_bits():
    # 1,100 rows through a 2**20-unit layer: rows x width passes 2**31 (it wrapped in C int and
    # wrote past the scratch); the passes are now bounded, the answer the same as row by row
    isolated("""
model = keras.Sequential([keras.layers.Dense(2**20, activation="relu", input_dim=1),
                          keras.layers.Dense(1)])
x = np.linspace(-1, 1, 1100, dtype=np.float32).reshape(-1, 1)
out = model.predict_on_batch(x)
assert out.shape == (1100, 1) and np.isfinite(out).all()
np.testing.assert_allclose(model(x), out)
for i in (0, 549, 1099):
    np.testing.assert_allclose(model.predict_on_batch(x[i:i + 1]), out[i:i + 1], rtol=1e-4, atol=1e-5)
import resource
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
assert peak_mib < 1024, f"peak memory {peak_mib:.0f} MiB: scratch grew with the rows"
""")


# ----- plan mismatches ---------------------------------------------------------------------------

def test_one_unit_output_with_class_labels_and_accuracy():
    # binary accuracy read a NULL targets pointer when y held class labels
    isolated("""
x = rng.standard_normal((50, 4)).astype(np.float32)
y = np.zeros(50, np.int64)
model = keras.Sequential([keras.layers.Dense(1, activation="sigmoid", input_dim=4)])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
history = model.fit(x, y, epochs=2, verbose=0)
loss, acc = model.evaluate(x, y, verbose=0)
p = model.predict(x, verbose=0)
assert acc == np.mean((p[:, 0] > 0.5) == 0), (acc, np.mean((p[:, 0] > 0.5) == 0))
assert "accuracy" in history.history and 0 < loss < 1e-6  # p/Σp = 1, clipped to 1 - ε
""")


NETWORK = """
from fastmlp._kernels.network import Network
from fastmlp._kernels.codes import LOSS_CODES, ACCURACY_CODES
from fastmlp._kernels.optim import AdamRule, SGDRule
params, grads = np.zeros(26, np.float32), np.zeros(26, np.float32)
def dense(n_in, n_out, act, w_off, b_off):
    return {"kind": "dense", "n_in": n_in, "n_out": n_out, "activation": act, "w_off": w_off, "b_off": b_off}
def network():
    return Network(params, grads, [dense(4, 3, 1, 0, 12), dense(3, 2, 4, 15, 24)], 26)
bn_params = np.zeros(26 + 6, np.float32)
def batch_norm(mean_off, var_off, momentum=0.99, epsilon=1e-3):
    return {"kind": "batch_norm", "n_in": 3, "n_out": 3, "w_off": -1, "b_off": -1,
            "mean_off": mean_off, "var_off": var_off, "momentum": momentum, "epsilon": epsilon}
net = network()
x = np.ones((5, 4), np.float32)
labels = np.zeros(5, np.int32)
rule = AdamRule(26, np.float32, 0.001, 0.9, 0.999, 1e-7)
"""

MISUSE = {
    "plan is read-only": (AttributeError, "", "setattr(net, 'loss', 99)"),
    "fused is derived": (AttributeError, "", "setattr(net, 'fused', True)"),
    "training before a loss": (RuntimeError, "set_loss", "net.train(x, labels, None, None, 0, 1, 5, rule)"),
    "labels for a target loss": (ValueError, "targets", "net.set_loss(LOSS_CODES['mean_squared_error'], 0, 1e-7) or net.train(x, labels, None, None, 0, 1, 5, rule)"),
    "no labels nor targets": (ValueError, "labels", "net.set_loss(0, 0, 1e-7) or net.train(x, None, None, None, 0, 1, 5, rule)"),
    "labels out of range": (ValueError, r"\[0, 2\)", "net.set_loss(0, 0, 1e-7) or net.train(x, np.full(5, 7, np.int32), None, None, 0, 1, 5, rule)"),
    "sparse accuracy with targets": (ValueError, "class labels", "net.set_loss(LOSS_CODES['mean_squared_error'], ACCURACY_CODES['sparse_categorical_accuracy'], 1e-7)"),
    "unknown loss code": (ValueError, "unknown loss", "net.set_loss(17, 0, 1e-7)"),
    "x of the wrong width": (ValueError, r"shape \(N, 4\)", "net.predict(params, np.ones((5, 3), np.float32), np.empty((5, 2), np.float32), 32)"),
    "x of the wrong dtype": (ValueError, "float32", "net.predict(params, x.astype(np.float64), np.empty((5, 2), np.float32), 32)"),
    "x not contiguous": (ValueError, "not C-contiguous", "net.predict(params, np.ones((5, 8), np.float32)[:, ::2], np.empty((5, 2), np.float32), 32)"),
    "x misaligned": (ValueError, "misaligned", "net.predict(params, np.frombuffer(bytes(81), np.float32, 20, 1).reshape(5, 4), np.empty((5, 2), np.float32), 32)"),
    "x big-endian": (ValueError, "float32", "net.predict(params, x.astype('>f4'), np.empty((5, 2), np.float32), 32)"),
    "x is None": (ValueError, "received NoneType", "net.predict(params, None, np.empty((5, 2), np.float32), 32)"),
    "out too small": (ValueError, r"shape \(5, 2\)", "net.predict(params, x, np.empty((4, 2), np.float32), 32)"),
    "out read-only": (ValueError, "read-only", "net.predict(params, x, np.empty((5, 2), np.float32)[:].view().setflags(write=False) or np.frombuffer(bytes(40), np.float32).reshape(5, 2), 32)"),
    "params of another size": (ValueError, r"shape \(26,\)", "net.predict(np.zeros(25, np.float32), x, np.empty((5, 2), np.float32), 32)"),
    "batch size zero": (ValueError, "batch_size", "net.predict(params, x, np.empty((5, 2), np.float32), 0)"),
    "order out of range by one": (ValueError, r"row index outside \[0, 5\)", "net.set_loss(0, 0, 1e-7) or net.train(x, labels, None, np.array([0, 1, 2, 3, 5], np.int64), 0, 1, 5, rule)"),
    "negative order": (ValueError, "row index", "net.set_loss(0, 0, 1e-7) or net.train(x, labels, None, np.array([0, -1, 2, 3, 4], np.int64), 0, 1, 5, rule)"),
    "order of another length": (ValueError, r"order.*shape \(5,\)", "net.set_loss(0, 0, 1e-7) or net.train(x, labels, None, np.arange(4), 0, 1, 5, rule)"),
    "rule of another size": (ValueError, "update rule", "net.set_loss(0, 0, 1e-7) or net.train(x, labels, None, None, 0, 1, 5, AdamRule(25, np.float32, 0.001, 0.9, 0.999, 1e-7))"),
    "rule that is not one": (TypeError, "", "net.set_loss(0, 0, 1e-7) or net.train(x, labels, None, None, 0, 1, 5, object())"),
    "weights past the buffer": (ValueError, "must lie in params", "Network(params, grads, [dense(4, 3, 1, 0, 12), dense(3, 2, 4, 21, 24)], 26)"),
    "steps that do not chain": (ValueError, "takes 4 inputs", "Network(params, grads, [dense(4, 3, 1, 0, 12), dense(4, 2, 4, 15, 24)], 26)"),
    "zero units": (ValueError, "sizes", "Network(params, grads, [dense(4, 0, 1, 0, -1)], 26)"),
    "params and grads shared": (ValueError, "share memory", "Network(params, params, [dense(4, 3, 1, 0, -1)], 26)"),
    "read-only params": (ValueError, "writeable", "Network(np.frombuffer(bytes(104), np.float32), grads, [dense(4, 3, 1, 0, -1)], 26)"),
    "grads of another size": (ValueError, r"grads.*shape \(20,\)", "Network(params, grads, [dense(4, 3, 1, 0, -1)], 20)"),
    "trainable past params": (ValueError, "trainable", "Network(params, np.zeros(27, np.float32), [dense(4, 3, 1, 0, -1)], 27)"),
    "unknown step kind": (ValueError, "kind", "Network(params, grads, [{'kind': 'conv', 'n_in': 4, 'n_out': 3}], 26)"),
    "activation step that changes width": (ValueError, "keeps its width", "Network(params, grads, [dense(4, 3, 1, 0, -1), {'kind': 'activation', 'n_in': 3, 'n_out': 5, 'activation': 1}], 26)"),
    "unknown activation code": (ValueError, "activation", "Network(params, grads, [dense(4, 3, 99, 0, -1)], 26)"),
    "negative leaky slope": (ValueError, "negative_slope", "Network(params, grads, [dense(4, 3, 5, 0, -1) | {'alpha': -0.5}], 26)"),
    "dropout rate of one": (ValueError, "rate", "Network(params, grads, [dense(4, 3, 1, 0, -1), {'kind': 'dropout', 'n_in': 3, 'n_out': 3, 'rate': 1.0}], 26)"),
    "dropout seed past 64 bits": (ValueError, "seed", "Network(params, grads, [dense(4, 3, 1, 0, -1), {'kind': 'dropout', 'n_in': 3, 'n_out': 3, 'rate': 0.5, 'seed': 2 ** 64}], 26)"),
    "moving statistics among trainable weights": (ValueError, "moving mean", "Network(bn_params, grads, [dense(4, 3, 1, 0, -1), batch_norm(20, 29)], 26)"),
    "moving statistics past params": (ValueError, "moving variance", "Network(bn_params, grads, [dense(4, 3, 1, 0, -1), batch_norm(26, 30)], 26)"),
    "batch norm epsilon of zero": (ValueError, "epsilon", "Network(bn_params, grads, [dense(4, 3, 1, 0, -1), batch_norm(26, 29, epsilon=0.0)], 26)"),
    "never initialised": (RuntimeError, "not initialised", "Network.__new__(Network).predict(params, x, np.empty((5, 2), np.float32), 32)"),
    "initialised twice": (RuntimeError, "already initialised", "net.__init__(params, grads, [dense(4, 3, 1, 0, -1)], 26)"),
    "rule of size zero": (ValueError, "size", "SGDRule(0, np.float32, 0.1, 0.0, False)"),
    "rule step on a short array": (ValueError, r"shape \(26,\)", "rule.step(np.zeros(3, np.float32), np.zeros(3, np.float32))"),
    "gradient of zero rows": (ValueError, "rows", "net.set_loss(0, 0, 1e-7) or net.gradient(np.ones((0, 4), np.float32), np.zeros(0, np.int32), None)"),
}


@pytest.mark.parametrize("case", sorted(MISUSE))
def test_compiled_network_refuses_what_it_cannot_trust(case):
    error, match, call = MISUSE[case]
    isolated(NETWORK + f"expect({error.__name__}, {match!r}, lambda: {call})\n")


HOOKS = {
    "gemm of empty matrices": (ValueError, "empty", "gemm_check(np.ones((3, 0), np.float32), np.ones((0, 2), np.float32), np.zeros((3, 2), np.float32))"),
    "gemm into a read-only array": (ValueError, "writeable", "gemm_check(np.ones((3, 2), np.float32), np.ones((2, 2), np.float32), np.frombuffer(bytes(24), np.float32).reshape(3, 2))"),
    "dense with a short kernel": (ValueError, "rows", "dense_forward_check(np.ones((3, 5), np.float32), np.ones((4, 2), np.float32), None, 1)"),
    "dense with a short bias": (ValueError, "`b`", "dense_forward_check(np.ones((3, 4), np.float32), np.ones((4, 2), np.float32), np.ones(1, np.float32), 1)"),
    "dense with an unknown activation": (ValueError, "activation", "dense_forward_check(np.ones((3, 4), np.float32), np.ones((4, 2), np.float32), None, 99)"),
    "dense backward with a short dy": (ValueError, "`dy`", "dense_backward_check(np.ones((3, 4), np.float32), np.ones((4, 2), np.float32), np.ones((3, 2), np.float32), np.ones((2, 2), np.float32), 1)"),
    "loss with labels out of range": (ValueError, r"\[0, 3\)", "loss_check(0, np.full((2, 3), 1/3, np.float32), np.array([0, 9], np.int32), None, True, 1e-7)"),
    "loss without targets": (ValueError, "targets", "loss_check(3, np.full((2, 3), 1/3, np.float32), None, None, False, 1e-7)"),
    "accuracy with short labels": (ValueError, "labels", "accuracy_check(1, np.full((2, 3), 1/3, np.float32), np.array([0], np.int32), None)"),
    "finite check of a non-array": (TypeError, "", "all_finite([1.0, 2.0])"),
}


@pytest.mark.parametrize("case", sorted(HOOKS))
def test_kernel_test_hooks_check_their_buffers(case):
    error, match, call = HOOKS[case]
    isolated("""
from fastmlp._kernels.blas import gemm_check
from fastmlp._kernels.dense import dense_forward_check, dense_backward_check
from fastmlp._kernels.loss import loss_check, accuracy_check
from fastmlp._kernels.finite import all_finite
""" + f"expect({error.__name__}, {match!r}, lambda: {call})\n")


# ----- copies --------------------------------------------------------------------------------------

def test_deepcopy_and_pickle_give_independent_working_models():
    isolated("""
import copy, pickle
x = rng.standard_normal((64, 8)).astype(np.float32)
y = rng.integers(0, 3, 64)
model = keras.Sequential([keras.layers.Dense(16, activation="relu", input_dim=8),
                          keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
model.fit(x, y, epochs=1, verbose=0)
before = model.predict(x, verbose=0)
trained = []
for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
    assert clone.built and clone.layers[0].owner is clone and model.layers[0].owner is model
    np.testing.assert_array_equal(clone.predict(x, verbose=0), before)
    assert clone.optimizer.iterations == model.optimizer.iterations == 2
    keras.utils.set_random_seed(5)
    clone.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)  # the original is untouched
    trained.append(clone.get_weights())
# the copies carried the optimizer's state: they continue exactly as the original does
keras.utils.set_random_seed(5)
model.fit(x, y, epochs=1, verbose=0)
for weights in trained:
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
unbuilt = copy.deepcopy(keras.Sequential([keras.layers.Dense(2)]))
assert not unbuilt.built and unbuilt.predict(x, verbose=0).shape == (64, 2)
""")


@pytest.mark.parametrize("what", ["model.engine.network", "model.optimizer._rule"])
def test_compiled_objects_refuse_to_be_pickled_on_their_own(what):
    isolated(f"""
import copy, pickle
model = keras.Sequential([keras.layers.Dense(3, input_dim=2)])
model.compile(optimizer="adam", loss="mse")
model.fit(np.ones((4, 2)), np.ones((4, 3)), verbose=0)
obj = {what}
expect(TypeError, "cannot be pickled", lambda: pickle.dumps(obj))
expect(TypeError, "cannot be pickled", lambda: copy.deepcopy(obj))
expect(TypeError, "cannot be pickled", lambda: copy.copy(obj))
""")


# ----- concurrency ---------------------------------------------------------------------------------

def test_second_concurrent_fit_is_refused_and_the_first_completes():
    isolated("""
import threading
x = rng.standard_normal((4000, 64)).astype(np.float32)
y = rng.integers(0, 10, 4000)
model = keras.Sequential([keras.layers.Dense(256, activation="relu", input_dim=64),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
started, errors = threading.Event(), []
class Signal(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        started.set()
def train():
    model.fit(x, y, epochs=3, verbose=0, callbacks=[Signal()])
first = threading.Thread(target=train)
first.start()
started.wait()
expect(RuntimeError, "another thread", lambda: model.fit(x, y, epochs=1, verbose=0))
expect(RuntimeError, "another thread", lambda: model.set_weights(model.get_weights()))
expect(RuntimeError, "another thread", lambda: model.compile(loss="mse"))
predictions = [model.predict(x[:100], verbose=0) for _ in range(5)]
first.join()
assert model.optimizer.iterations == 3 * 125, model.optimizer.iterations
assert all(np.isfinite(p).all() for p in predictions)
model.fit(x, y, epochs=1, verbose=0)  # free again
""")


def test_compiled_network_serves_one_training_call_at_a_time():
    # beneath the model's lock, the Network's own: its training scratch is never shared
    isolated("""
import threading
from fastmlp.engine import DenseStep, Engine
engine = Engine([DenseStep(256, 512, "relu", True), DenseStep(512, 10, "softmax", True)], np.float32)
engine.set_loss("sparse_categorical_crossentropy", None)
rule = keras.optimizers.SGD(0.01).build(engine.size, np.float32)
x = rng.standard_normal((20000, 256)).astype(np.float32)
labels = rng.integers(0, 10, 20000).astype(np.int32)
net = engine.network
t = threading.Thread(target=lambda: net.train(x, labels, None, None, 0, 10**6, 32, rule))
t.start()
while rule.iterations == 0:
    pass
expect(RuntimeError, "already training", lambda: net.train(x, labels, None, None, 0, 1, 32, rule))
expect(RuntimeError, "already training", lambda: net.gradient(x[:5], labels[:5], None))
expect(RuntimeError, "already training", lambda: net.gemm_steps(32, 1))
expect(RuntimeError, "while this Network trains", lambda: net.set_loss(0, 1, 1e-7))
out = np.empty((5, 10), np.float32)
net.predict(engine.published, x[:5], out, 32)  # inference has scratch of its own
t.join()
assert rule.iterations == 625
""")


def test_predict_never_sees_half_written_weights():
    # two sets of weights written in turn while other threads predict: every output is that
    # of one set or the other, bit for bit, never a mix
    isolated("""
import threading
model = keras.Sequential([keras.layers.Dense(u, activation="relu") for u in (300, 200, 100)]
                         + [keras.layers.Dense(10)])
model.build((784,))
x = rng.random((4, 784)).astype(np.float32)
a = model.get_weights()
b = [w + 0.01 for w in a]
model.set_weights(b)
want_b = model.predict_on_batch(x)
model.set_weights(a)
want_a = model.predict_on_batch(x)
stop, torn, seen = threading.Event(), [], set()
def reader():
    while not stop.is_set():
        out = model.predict_on_batch(x)
        if np.array_equal(out, want_a):
            seen.add("a")
        elif np.array_equal(out, want_b):
            seen.add("b")
        else:
            torn.append(out)
readers = [threading.Thread(target=reader) for _ in range(2)]
for t in readers:
    t.start()
for i in range(200):
    model.set_weights(b if i % 2 == 0 else a)
stop.set()
for t in readers:
    t.join()
assert not torn, f"{len(torn)} outputs mixed two sets of weights"
assert seen == {"a", "b"}, seen
""")


def test_predict_and_get_weights_while_fit_runs_in_another_thread():
    isolated("""
import threading
x = rng.standard_normal((3000, 32)).astype(np.float32)
y = rng.integers(0, 4, 3000)
model = keras.Sequential([keras.layers.Dense(64, activation="tanh", input_dim=32),
                          keras.layers.Dense(4, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
done = threading.Event()
def train():
    model.fit(x, y, epochs=4, verbose=0)
    done.set()
t = threading.Thread(target=train)
t.start()
snapshots = 0
while not done.is_set():
    out = model.predict(x[:64], verbose=0)
    assert np.isfinite(out).all() and np.allclose(out.sum(axis=1), 1, atol=1e-5)
    weights = model.get_weights()
    assert all(np.isfinite(w).all() for w in weights)
    snapshots += 1
t.join()
final = model.get_weights()
for live, copied in zip(model.weights, final):
    np.testing.assert_array_equal(live, copied)  # after fit, readers see the last step
""")


def test_fit_from_a_callback_of_fit_is_refused():
    isolated("""
x, y = np.ones((8, 2), np.float32), np.ones((8, 1), np.float32)
model = keras.Sequential([keras.layers.Dense(1, input_dim=2)])
model.compile(optimizer="sgd", loss="mse")
class Nested(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        expect(RuntimeError, "inside its own fit", lambda: self.model.fit(x, y, verbose=0))
        self.model.set_weights(self.model.get_weights())  # writes from the fit thread are fine
model.fit(x, y, epochs=2, verbose=0, callbacks=[Nested()])
""")


# ----- model structure -----------------------------------------------------------------------------

def test_models_without_dense_layers_say_so():
    isolated("""
x = np.ones((3, 4, 4), np.float32)
expect(ValueError, "no Dense layer", lambda: keras.Sequential().predict(x, verbose=0))
empty = keras.Sequential()
empty.compile(loss="mse")
expect(ValueError, "", lambda: empty.fit(x, np.ones((3, 2)), verbose=0))
flat = keras.Sequential([keras.layers.Flatten(input_shape=(4, 4))])
expect(ValueError, "no Dense layer.*flatten", lambda: flat.predict(x, verbose=0))
flat.compile(loss="mse")
expect(ValueError, "no Dense layer", lambda: flat.fit(x, np.ones((3, 16)), verbose=0))
expect(ValueError, "no Dense layer", lambda: flat.summary() or flat.count_params())
""")


def test_a_layer_belongs_to_one_model():
    isolated("""
shared = keras.layers.Dense(3, input_dim=2)
first = keras.Sequential([shared])
expect(ValueError, "already belongs to model", lambda: keras.Sequential([shared]))
expect(ValueError, "already in model", lambda: first.add(shared))
""")


def test_layer_weights_are_read_only_views_and_assignment_copies_in():
    isolated("""
model = keras.Sequential([keras.layers.Dense(3, input_dim=2), keras.layers.Dense(1)])
layer = model.layers[0]
expect(ValueError, "read-only", lambda: layer.kernel.__setitem__((0, 0), 5.0))
expect(ValueError, "read-only", lambda: model.weights[0].__setitem__((0, 0), 5.0))
x = np.ones((1, 2), np.float32)
layer.kernel = np.full((2, 3), 0.5)
layer.bias = np.array([1.0, 2.0, 3.0])
assert (model.get_weights()[0] == 0.5).all() and (layer.get_weights()[1] == [1, 2, 3]).all()
h = x @ np.full((2, 3), 0.5) + [1, 2, 3]  # a linear layer
want = h @ model.get_weights()[2] + model.get_weights()[3]
# float32 outputs against a float64 product: an output near 0 of random weights once read
# -0.0390222 against -0.0390221 (3e-6 relative)
np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
expect(ValueError, r"shape \\(2, 3\\)", lambda: setattr(layer, "kernel", np.ones((3, 3))))
nobias = keras.layers.Dense(2, use_bias=False, input_dim=2)
keras.Sequential([nobias])
expect(ValueError, "no bias", lambda: setattr(nobias, "bias", np.ones(2)))
""")


def test_random_step_plans_build_or_refuse_and_never_crash():
    """Plans of every step kind, with sizes, offsets, rates and codes drawn at random (many
    wrong): each Network is built or refused with ValueError/TypeError; a built one trains a
    step, predicts and evaluates without reading or writing out of bounds."""
    pytest.importorskip("hypothesis")
    isolated("""
from hypothesis import given, settings, strategies as st, HealthCheck
from fastmlp._kernels.network import Network
from fastmlp._kernels.optim import SGDRule

@st.composite
def plans(draw):
    # a plan laid out as the engine lays one out, then (half the time) one field spoiled
    kinds = draw(st.lists(st.sampled_from(["dense", "activation", "dropout", "batch_norm"]), min_size=1, max_size=4))
    width = draw(st.integers(1, 5))
    steps, offset, frozen_at = [], 0, 40
    for kind in kinds:
        n_out = draw(st.integers(1, 5)) if kind == "dense" else width
        spec = {"kind": kind, "n_in": width, "n_out": n_out}
        if kind in ("dense", "activation"):
            spec["activation"] = draw(st.integers(0, 13))
            spec["alpha"] = draw(st.sampled_from([0.0, 0.2, 1.0]))
        if kind == "dense":
            spec["w_off"], spec["b_off"] = offset, offset + width * n_out
            offset += width * n_out + n_out
            spec["kernel_l2"] = draw(st.sampled_from([0.0, 0.01]))
            spec["activity_l1"] = draw(st.sampled_from([0.0, 0.01]))
            spec["kernel_constraint"] = draw(st.integers(0, 3))
            spec["kernel_max"] = 1.0
        elif kind == "dropout":
            spec["rate"], spec["seed"] = draw(st.floats(0, 0.9)), draw(st.integers(0, 2**64 - 1))
        elif kind == "batch_norm":
            spec["w_off"], spec["b_off"] = offset, offset + width
            offset += 2 * width
            spec["mean_off"], spec["var_off"] = frozen_at, frozen_at + width
            frozen_at += 2 * width
            spec["frozen"] = draw(st.booleans())
        steps.append(spec)
        width = n_out
    if draw(st.booleans()):  # spoil one field with a value from the edges
        target = draw(st.sampled_from(steps))
        # mostly a size or an offset, with values at the edges of params (60) and its parts
        offsets = [k for k in ("n_in", "n_out", "w_off", "b_off", "mean_off", "var_off") if k in target]
        key = draw(st.sampled_from(offsets) | st.sampled_from(sorted(target) + ["kind"]))
        target[key] = draw(st.sampled_from([-1, 0, 39, 40, 57, 58, 59, 60, 61, 70, 2**31, 2**63,
                                            -0.5, 1.0, float("nan"), "x", None]))
    return steps, offset


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(plans(), st.integers(1, 6))
def run(plan, rows):
    steps, trainable = plan
    # params and grads inside larger arrays whose tails are sentinels: a write past either
    # buffer shows, even where it would not crash
    store = np.full(60 + 16, 7.0, np.float32)
    params = store[:60]
    params[:] = np.random.default_rng(0).standard_normal(60).astype(np.float32) * 0.1
    params[40:] = np.abs(params[40:]) + 0.5  # positive where moving variances sit
    grad_store = np.full(trainable + 16, 7.0, np.float32)
    grads = grad_store[:trainable]
    try:
        net = Network(params, grads, steps, trainable)
    except (ValueError, TypeError):
        return
    built.append(1)
    x = np.ones((rows, net.n_inputs), np.float32)
    targets = np.zeros((rows, net.n_outputs), np.float32)
    net.set_loss(3, 0, 1e-7)  # mean squared error
    out = np.empty((rows, net.n_outputs), np.float32)
    net.predict(params.copy(), x, out, 2)
    net.evaluate(params.copy(), x, None, targets, 2, 3, [4], 1e-7, np.ones(rows, np.float32))
    if trainable:
        net.train(x, None, targets, None, 0, 2, 2, SGDRule(trainable, np.float32, 0.01, 0.0, False), 7)
        net.gradient(x, None, targets, 3)
    assert (store[60:] == 7.0).all() and (grad_store[trainable:] == 7.0).all(), steps
built = []
run()
assert len(built) > 100, len(built)
""")
