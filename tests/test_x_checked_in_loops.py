"""fit's and evaluate's check of x for NaN and infinity inside their compiled loops (instead of
a pass over x before the call). fit: its first epoch's steps check the rows as they gather
them, every member of a team what it gathers; a step with a bad row is not applied, and fit
then puts back what the call began with and names the first bad element as the check before
the call did. evaluate: each pass checks its rows after its first product read them. Oracles:
the same steps trained without the bad row, the model's state before the call, the same call
unchecked, numpy.isfinite for the index."""
import numpy as np
import pytest

import fastmlp as keras
from fastmlp import callbacks as cbs
from fastmlp import config, seeding
from fastmlp import data as _data
from fastmlp._kernels.small_gemm import small_gemm_level
from fastmlp.engine import LOSS_CODES, DenseStep, Engine, InputNotFinite
from fastmlp.optimizers import Adam
from fastmlp.parallel import start_team

# 300 inputs: a unit team of 2 gathers columns [0, 160) and [160, 300)
LAYERS = ((300, 64, "relu"), (64, 50, "relu"), (50, 5, "softmax"))
ROWS = 5 * 64 + 13
BAD_STEP = 2


def make_engine(dtype=np.float32, team=None):
    engine = Engine([DenseStep(a, b, act, True) for a, b, act in LAYERS], dtype)
    engine.params[:] = np.random.default_rng(0).standard_normal(engine.size) * 0.2
    engine.set_loss("sparse_categorical_crossentropy", "sparse_categorical_accuracy")
    if team == "rows":
        engine.network.set_team_choice(0, 1 << 62)  # the rows team wherever one may train
    return engine


def data(rows=ROWS):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((rows, LAYERS[0][0])).astype(np.float32)
    return x, rng.integers(0, LAYERS[-1][1], rows).astype(np.int32)


# (team, batch, threads, dtype): alone (float64: on BLAS), a team sharing the rows (32
# each), a unit team (all rows, its columns each; teams train float32 only)
PATHS = [("alone", 64, 1, np.float32), ("alone", 64, 1, np.float64), ("rows", 64, 2, np.float32),
         ("units", 32, 2, np.float32)]


@pytest.mark.parametrize("shuffled", [True, False])
@pytest.mark.parametrize("path", PATHS, ids=[f"{p[0]}-{p[3].__name__}" for p in PATHS])
# rows: the first, the first of the helper's share of a rows team, the last (of the batch)
@pytest.mark.parametrize("row, col", [("first", 0), ("half", 159), ("half", 160), ("last", 299)])
@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_a_step_with_a_bad_row_raises_before_it_is_applied(shuffled, path, row, col, bad):
    team, batch, threads, dtype = path
    if team != "alone" and small_gemm_level() == 0:
        pytest.skip("a training team needs fastmlp's own GEMM (AVX2 or AVX-512)")
    x, labels = data()
    x, order = x.astype(dtype), None
    if shuffled:
        order = np.random.default_rng(2).permutation(ROWS).astype(np.int64)
    row = {"first": 0, "half": batch // 2, "last": batch - 1}[row]
    position = BAD_STEP * batch + row  # in the epoch's order
    source = order[position] if shuffled else position
    clean = make_engine(dtype, team)
    rule = clean.new_rule(Adam(1e-3))
    clean.network.train(x, labels, None, order, 0, BAD_STEP, batch, rule, 7, None, threads,
                        start_team)
    expected, expected_iterations = clean.params.copy(), rule.iterations

    x[source, col] = bad
    engine = make_engine(dtype, team)
    assert engine.network.team_for(threads, batch, engine.new_rule(Adam(1e-3))) == (
        {"alone": (1, False), "rows": (2, False), "units": (2, True)}[team])
    rule = engine.new_rule(Adam(1e-3))
    with pytest.raises(InputNotFinite, match=f"step {BAD_STEP};") as caught:
        engine.network.train(x, labels, None, order, 0, 5, batch, rule, 7, None, threads,
                             start_team, check_x=True)
    assert caught.value.step == BAD_STEP
    np.testing.assert_array_equal(engine.params, expected)  # the steps before it, same bits
    assert rule.iterations == expected_iterations == BAD_STEP

    # unchecked, the same row reaches the loss or the weights (the check is what stopped
    # the step: a ReLU may turn NaN into 0, the kernel's gradient still takes it)
    engine = make_engine(dtype, team)
    rule = engine.new_rule(Adam(1e-3))
    bad_step = engine.network.train(x, labels, None, order, 0, 5, batch, rule, 7, None, threads,
                                    start_team)[3]
    assert bad_step == BAD_STEP or not engine.finite(rule)


def test_clean_rows_pass_the_check_with_the_same_bits():
    x, labels = data()
    order = np.random.default_rng(2).permutation(ROWS).astype(np.int64)
    results = []
    for check_x in (False, True):
        engine = make_engine()
        result = engine.network.train(x, labels, None, order, 0, 100, 32, engine.new_rule(Adam(1e-3)),
                                      7, None, 2, start_team, check_x=check_x)
        results.append((engine.params.copy(), result))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


# ----- fit ------------------------------------------------------------------------------------

def model(seed=0):
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.layers.Dense(24, activation="relu", input_shape=(40,)),
                          keras.layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def fit_data(rows=203):
    rng = np.random.default_rng(3)
    return rng.standard_normal((rows, 40)).astype(np.float32), rng.integers(0, 3, rows)


def state(m):
    rule = m._rule
    return (m.get_weights(), (rule.iterations, [s.copy() for s in rule.slots]),
            seeding.generator().bit_generator.state, m.history)


def assert_same_state(a, b):
    for u, v in zip(a[0], b[0]):
        np.testing.assert_array_equal(u, v)
    assert a[1][0] == b[1][0]
    for u, v in zip(a[1][1], b[1][1]):
        np.testing.assert_array_equal(u, v)
    assert a[2] == b[2]
    assert a[3] is b[3]


@pytest.fixture
def x_checks(monkeypatch):
    """The names check_finite is called with (it still checks)."""
    names = []
    original = _data.check_finite
    monkeypatch.setattr(_data, "check_finite", lambda arr, name, first_row=0: (
        names.append(name), original(arr, name, first_row)))
    return names


@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("row", [0, 77, 202])  # the first row, one inside, the short last batch's
def test_fit_names_the_first_bad_element_and_keeps_what_it_began_with(threads, count, shuffle, row):
    config.set_num_threads(count)
    x, y = fit_data()
    m = model()
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    before = state(m)
    x[row, 13] = np.inf
    x[row, 30] = np.nan
    with pytest.raises(ValueError, match=rf"`x` contains NaN or infinity \(first at index \({row}, 13\)\)"):
        m.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=shuffle)
    assert_same_state(state(m), before)


def test_after_the_error_training_goes_on_as_if_the_call_had_not_been_made():
    x, y = fit_data()
    bad = x.copy()
    bad[150, 0] = np.nan
    weights = []
    for failed_first in (True, False):
        m = model()
        m.fit(x, y, epochs=1, batch_size=16, verbose=0)
        keras.utils.set_random_seed(5)
        if failed_first:
            with pytest.raises(ValueError, match=r"\(150, 0\)"):
                m.fit(bad, y, epochs=2, batch_size=16, verbose=0)
        m.fit(x, y, epochs=2, batch_size=16, verbose=0)
        weights.append(m.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("row", [10, 190])  # of 203: the training part ends at 162
def test_validation_split_names_bad_rows_on_either_side(row):
    x, y = fit_data()
    m = model()
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    before = state(m)
    x[row, 39] = -np.inf
    with pytest.raises(ValueError, match=rf"\(first at index \({row}, 39\)\)"):
        m.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_split=0.2)
    assert_same_state(state(m), before)


class Recorder(cbs.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append("epoch_end")


class BatchRecorder(Recorder):
    def on_train_batch_end(self, batch, logs=None):
        self.calls.append("batch_end")


def test_x_is_checked_before_the_call_when_a_callback_would_see_a_step():
    x, y = fit_data()
    x[100, 2] = np.nan
    m = model()
    for recorder, calls in ((BatchRecorder(), []), (Recorder(), ["train_begin"])):
        with pytest.raises(ValueError, match=r"\(100, 2\)"):
            m.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[recorder])
        # no step ran before the error with batch hooks; with epoch hooks alone, no epoch ended
        assert recorder.calls == calls
    with pytest.raises(ValueError, match=r"\(100, 2\)"):  # no epoch to run: checked before
        m.fit(x, y, epochs=1, initial_epoch=1, verbose=0)


def test_a_plain_fit_reads_x_once_in_its_steps(x_checks):
    """The point of the change: fit does not pass over x before its steps (they check it)."""
    checked = x_checks
    x, y = fit_data()
    m = model()
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert "x" not in checked and "y" in checked
    m.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[BatchRecorder()])
    assert checked.count("x") == 1


# ----- evaluate -------------------------------------------------------------------------------

@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize("row", [0, 999, 1999])  # the first pass's, one inside, the last pass's
def test_evaluate_finds_a_bad_element_in_any_pass(threads, count, row):
    config.set_num_threads(count)
    engine = make_engine()
    x, labels = data(rows=2000)
    if count == 2 and small_gemm_level() == 0:
        pytest.skip("inference runs on BLAS's threads without fastmlp's own GEMM")
    assert engine._parts(len(x)) == count  # two threads claim the passes in chunks
    args = (labels, None, 32, "sparse_categorical_crossentropy", "sparse_categorical_accuracy")
    clean = engine.evaluate(x, *args)
    assert engine.evaluate(x, *args, check_x=True) == clean  # the same sums, bit for bit
    x[row, 7] = np.nan
    x[1500 if row < 1500 else 1000, 3] = np.inf  # a second one: the first is named
    first = min(row, 1500 if row < 1500 else 1000)
    with pytest.raises(ValueError, match=rf"`x` contains NaN or infinity \(first at index "
                                         rf"\({first}, {7 if first == row else 3}\)\)"):
        engine.evaluate(x, *args, check_x=True)
    with pytest.raises(InputNotFinite) as caught:
        engine.network.evaluate(engine.published, x, labels, None, 32,
                                LOSS_CODES["sparse_categorical_crossentropy"], (), 1e-7,
                                check_x=True)
    assert caught.value.step is None
    # unchecked, the call runs on (its loss is whatever the bad row makes it)
    engine.evaluate(x, *args)


@pytest.mark.parametrize("call", ["evaluate", "test_on_batch"])
def test_model_evaluation_names_the_first_bad_element(call, x_checks):
    checked = x_checks
    x, y = fit_data()
    m = model()
    run = (lambda xs: m.evaluate(xs, y, verbose=0)) if call == "evaluate" else (
        lambda xs: m.test_on_batch(xs, y))
    clean = run(x)
    assert "x" not in checked  # a clean call does not read x before its passes
    x[120, 5] = -np.inf
    with pytest.raises(ValueError, match=r"`x` contains NaN or infinity \(first at index \(120, 5\)\)"):
        run(x)
    x[120, 5] = 0.5
    assert run(x) != clean
