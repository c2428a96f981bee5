"""fastmlp's training team (several threads, one training call): each thread's share of a
batch, the gradient summed across threads, the update applied in parts, the transposed
kernels the backward pass reads. Oracles: the float64 NumPy reference step, the calling
thread training alone, and the team itself (the same bits for the same team size)."""
import numpy as np
import pytest
from conftest import run_isolated

from fastmlp import _reference as ref
from fastmlp._kernels.dense import dense_backward_check
from fastmlp._kernels.small_gemm import small_gemm_level
from fastmlp.engine import BatchNormStep, DenseStep, DropoutStep, Engine
from fastmlp.optimizers import SGD, Adam, Nadam
from fastmlp.parallel import start_team

pytestmark = pytest.mark.skipif(small_gemm_level() == 0,
                                reason="a training team needs fastmlp's own GEMM (AVX2 or AVX-512)")

# big enough that a batch of 64 makes a team of 2 (32 rows and 2**20 multiply-adds a thread)
WIDTHS = (200, 64, 32, 5)
BATCH = 64
ALWAYS_ROWS = 1 << 62  # set_team_choice's bytes: no network overflows this cache


# the start of a subprocess test's code: new_engine() makes an engine of WIDTHS (the rows
# team wherever one may train), and `engine` is one
ISOLATED_ENGINE = f"""
        import numpy as np
        from fastmlp.engine import DenseStep, Engine
        from fastmlp.optimizers import Adam
        from fastmlp.parallel import start_team

        widths = {WIDTHS!r}

        def new_engine():
            steps = [DenseStep(a, b, "relu" if b != widths[-1] else "softmax", True)
                     for a, b in zip(widths, widths[1:])]
            engine = Engine(steps, np.float32)
            engine.params[:] = np.random.default_rng(9).standard_normal(engine.size) * 0.2
            engine.set_loss("sparse_categorical_crossentropy", None)
            engine.network.set_team_choice(0, {ALWAYS_ROWS})
            return engine

        engine = new_engine()
"""


def make_engine(rng, extra=None, dtype=np.float32, **dense):
    steps = [DenseStep(a, b, "relu" if b != WIDTHS[-1] else "softmax", True, **dense)
             for a, b in zip(WIDTHS, WIDTHS[1:])]
    if extra is not None:
        steps.insert(1, extra)
    engine = Engine(steps, dtype)
    engine.params[:] = rng.standard_normal(engine.size) * 0.2
    engine.set_loss("sparse_categorical_crossentropy", "sparse_categorical_accuracy")
    # the rows team wherever one may train: a unit team would take these calls by default
    # (32 rows a thread), and tests/test_unit_team.py tests that one
    engine.network.set_team_choice(0, ALWAYS_ROWS)
    return engine


def data(rng, rows=4 * BATCH + 17):
    x = rng.standard_normal((rows, WIDTHS[0])).astype(np.float32)
    return x, rng.integers(0, WIDTHS[-1], rows).astype(np.int32)


def train(engine, x, labels, optimizer, threads, order=None, steps=100, helpers=start_team,
          rule=None, **kwargs):
    rule = rule or engine.new_rule(optimizer)
    # a test of the team must train as one (else it would compare one thread with itself)
    assert engine.network.team_for(threads, BATCH, rule) == (min(threads, 2), False)
    result = engine.network.train(x, labels, None, order, 0, steps, BATCH, rule, 7,
                                  kwargs.get("weights"), threads, helpers)
    return result, rule


def test_team_size_rules(rng):
    engine = make_engine(rng)
    net = engine.network
    assert net.team_size(2, BATCH) == 2
    assert net.team_size(1, BATCH) == 1
    assert net.team_size(2, 32) == 1            # 16 rows a thread: the weights' traffic wins
    assert net.team_size(8, BATCH) == 2         # 32 rows a thread at most
    assert net.team_size(4, 4 * BATCH) == 4
    assert make_engine(rng, dtype=np.float64).network.team_size(2, BATCH) == 1
    assert make_engine(rng, BatchNormStep(64, 0.99, 1e-3, True, True)).network.team_size(2, BATCH) == 1
    assert make_engine(rng, kernel_constraint=("max_norm", 2.0)).network.team_size(2, BATCH) == 1
    net.set_gemm_levels(net.gemm_levels[0], 0)  # BLAS's threads would fight the team's
    assert net.team_size(2, BATCH) == 1


@pytest.mark.parametrize("size", [2, 3, 7])
def test_team_parts_tile_the_weights_between_kernel_rows(rng, size):
    engine = make_engine(rng)
    parts = engine.network.team_parts(size)
    assert parts[0][0] == 0 and parts[-1][1] == engine.network.trainable
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    assert all(hi - lo > 0.5 * engine.network.trainable / size for lo, hi in parts)
    base = engine.params.__array_interface__["data"][0]
    kernels = [((kernel.__array_interface__["data"][0] - base) // kernel.itemsize, kernel.shape)
               for kernel in (engine.views(i)[0] for i in range(len(engine.steps)))]
    for bound, _ in parts[1:]:
        for offset, (n_in, n_out) in kernels:
            if offset < bound < offset + n_in * n_out:
                assert (bound - offset) % n_out == 0, (bound, offset, n_out)


def reference_step(engine, params, x, classes, lr):
    """params after one SGD(lr) step on (x, classes), in float64 NumPy."""
    p = params.astype(np.float64)
    acts, h = [], x.astype(np.float64)
    for i, step in enumerate(engine.steps):
        w, b = engine.views(i, p)
        h = ref.dense_forward(h, w, b, step.activation)
        acts.append(h)
    delta = ref.fused_gradient("sparse_categorical_crossentropy", acts[-1], classes)
    grads = np.zeros_like(p)
    for i in range(len(engine.steps) - 1, -1, -1):
        w, _ = engine.views(i, p)
        gw, gb = engine.views(i, grads)
        gw[...] = (x if i == 0 else acts[i - 1]).T @ delta
        gb[...] = delta.sum(axis=0)
        if i:
            delta = ref.activation_backward(delta @ w.T, acts[i - 1], engine.steps[i - 1].activation)
    return p - lr * grads


def assert_sgd_epoch_equals_the_reference(engine, rng, threads):
    """An epoch of SGD(0.1) on `threads` threads ends where the float64 reference does."""
    x, labels = data(rng)
    order = rng.permutation(len(x)).astype(np.int64)
    expected = engine.params.astype(np.float64)
    for step in range(-(-len(x) // BATCH)):
        rows = order[step * BATCH:(step + 1) * BATCH]
        expected = reference_step(engine, expected, x[rows], labels[rows], 0.1)
    (_, _, samples, bad), _ = train(engine, x, labels, SGD(0.1), threads, order)
    assert (samples, bad) == (len(x), -1)
    np.testing.assert_allclose(engine.params, expected, rtol=2e-4, atol=2e-5)


def test_team_steps_equal_the_float64_reference(rng):
    # the last batch of 17 rows: a team too
    assert_sgd_epoch_equals_the_reference(make_engine(rng), rng, threads=2)


def test_a_lone_thread_reading_transposed_kernels_equals_the_reference(rng):
    """Where BLAS runs several threads, a lone training thread computes dx = dz·Wᵀ on the
    own GEMM from Wᵀ, which it must refresh after every update (a stale one would give each
    step after the first the previous weights' gradients)."""
    engine = make_engine(rng)
    engine.network.set_train_gemm_max(2**62, True)
    assert engine.network.solo_transposes
    assert_sgd_epoch_equals_the_reference(engine, rng, threads=1)


def test_a_lone_thread_gives_the_same_weights_whichever_kernel_reads_w(rng):
    """dx by BLAS reading W or by the own GEMM reading Wᵀ: the same training up to rounding,
    and the same bits on every run of either."""
    start = make_engine(rng).params.copy()
    x, labels = data(rng)
    results = {}
    for transposes in (False, True, True):
        engine = make_engine(rng)
        engine.params[:] = start
        engine.network.set_train_gemm_max(2**62, transposes)
        (loss, _, samples, bad), _ = train(engine, x, labels, Adam(1e-3), 1)
        assert (samples, bad) == (len(x), -1)
        results.setdefault(transposes, []).append((engine.params.copy(), loss))
    np.testing.assert_array_equal(results[True][0][0], results[True][1][0])
    np.testing.assert_allclose(results[True][0][0], results[False][0][0], rtol=1e-4, atol=1e-5)
    assert results[True][0][1] == pytest.approx(results[False][0][1], rel=1e-5)


@pytest.mark.parametrize("optimizer", [lambda: Adam(1e-3), lambda: SGD(0.05, momentum=0.9),
                                       lambda: Nadam(1e-3), lambda: Adam(1e-3, clipnorm=0.5),
                                       lambda: Adam(1e-3, weight_decay=0.01, clipvalue=0.01)])
def test_team_equals_one_thread_and_repeats_its_bits(rng, optimizer):
    """Adam and SGD update in parts; Nadam and clipnorm need the whole gradient (the calling
    thread applies them): each result is the one-thread result up to rounding, and the same
    bits on every run with the same team."""
    start = make_engine(rng).params.copy()
    x, labels = data(rng)
    order = rng.permutation(len(x)).astype(np.int64)
    results = {}
    for threads in (1, 2, 2, 3):
        engine = make_engine(rng)
        engine.params[:] = start
        (loss, (acc,), samples, bad), rule = train(engine, x, labels, optimizer(), threads, order)
        assert (samples, bad) == (len(x), -1)
        results.setdefault(threads, []).append((engine.params.copy(), loss, acc, rule.iterations))
    one, two, again = results[1][0], results[2][0], results[2][1]
    np.testing.assert_array_equal(two[0], again[0])
    assert two[1:] == again[1:]
    np.testing.assert_allclose(two[0], one[0], rtol=1e-4, atol=1e-5)
    assert two[1] == pytest.approx(one[1], rel=1e-5) and two[2:] == one[2:]
    # three threads asked for, batch 64: a team of 2 (32 rows a thread at least)
    np.testing.assert_array_equal(results[3][0][0], two[0])


def test_team_with_dropout_sample_weights_and_penalties_equals_one_thread(rng):
    """Each thread masks its rows with the whole batch's mask, the loss is the batch's mean
    and the weight penalties are counted once."""
    x, labels = data(rng)
    weights = rng.uniform(0.2, 2.0, len(x)).astype(np.float32)
    results = []
    for threads in (1, 2):
        engine = make_engine(np.random.default_rng(5), DropoutStep(64, 0.4, 11),
                             kernel_penalty=(1e-3, 1e-3), activity_penalty=(0.0, 1e-3))
        (loss, _, _, _), _ = train(engine, x, labels, Adam(1e-3), threads, weights=weights)
        results.append((engine.params.copy(), loss))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-4, atol=1e-5)
    assert results[1][1] == pytest.approx(results[0][1], rel=1e-5)


def test_a_bad_index_in_a_helpers_share_stops_before_the_step(rng):
    engine = make_engine(rng)
    x, labels = data(rng)
    order = np.arange(len(x), dtype=np.int64)
    order[BATCH + BATCH - 3] = len(x)  # step 1, in the second thread's share
    rule = engine.new_rule(Adam(1e-3))
    train(engine, x, labels, None, 2, order, steps=1, rule=rule)
    before, iterations = engine.params.copy(), rule.iterations
    with pytest.raises(ValueError, match="outside"):
        engine.network.train(x, labels, None, order, 1, 3, BATCH, rule, 7, None, 2, start_team)
    np.testing.assert_array_equal(engine.params, before)
    assert rule.iterations == iterations


def test_a_nonfinite_loss_in_a_helpers_share_is_reported_and_not_applied(rng):
    engine = make_engine(rng)
    engine.set_loss("mean_squared_error", None)
    x, _ = data(rng)
    targets = rng.standard_normal((len(x), WIDTHS[-1])).astype(np.float32)
    targets[BATCH + 40] = np.inf  # step 1, the second thread's share
    rule = engine.new_rule(Adam(1e-3))
    assert engine.network.train(x, None, targets, None, 0, 1, BATCH, rule, 7, None, 2,
                                start_team)[3] == -1
    before = engine.params.copy()
    _, _, samples, bad = engine.network.train(x, None, targets, None, 1, 3, BATCH, rule, 7,
                                              None, 2, start_team)
    assert (bad, samples) == (1, 0)
    np.testing.assert_array_equal(engine.params, before)
    assert rule.iterations == 1


def test_a_team_whose_helpers_do_not_start_trains_alone():
    """Fewer helpers than asked for (a pool shutting down): the calling thread trains alone,
    with the one-thread bits, and the helper that did start leaves. In a subprocess with a
    timeout: a broken fallback would leave the calling thread waiting for its team forever."""
    out = run_isolated(ISOLATED_ENGINE + f"""
        rng = np.random.default_rng(1)
        x = rng.standard_normal((4 * {BATCH} + 17, widths[0])).astype(np.float32)
        labels = rng.integers(0, widths[-1], len(x)).astype(np.int32)

        def trained(threads, helpers):
            engine = new_engine()
            rule = engine.new_rule(Adam(1e-3))
            assert engine.network.team_for(threads, {BATCH}, rule) == (threads, False)
            engine.network.train(x, labels, None, None, 0, 100, {BATCH}, rule, 7, None, threads,
                                 helpers)
            return engine.params.copy()

        alone = trained(1, start_team)
        none_started = trained(2, lambda task, count: start_team(task, count)[:0])
        no_helpers = trained(2, None)
        print(np.array_equal(none_started, alone), np.array_equal(no_helpers, alone))
    """, timeout=120)
    assert out.split() == ["True", "True"]


def test_a_member_runs_once_and_only_during_its_call(rng):
    engine = make_engine(rng)
    x, labels = data(rng)
    members = []

    def keep(task, count):
        members.append(task)
        return start_team(task, count)

    train(engine, x, labels, Adam(1e-3), 2, helpers=keep)
    with pytest.raises(RuntimeError, match="cannot run"):
        members[0](1)


def test_weights_set_between_calls_reach_the_transposed_kernels(rng):
    """The backward pass reads Wᵀ, refreshed at the start of each call: weights set between
    calls (set_weights, a rewind) must be the ones it reads."""
    x, labels = data(rng)
    results = []
    for threads in (1, 2):
        engine = make_engine(np.random.default_rng(3))
        train(engine, x, labels, SGD(0.1), threads, steps=2)
        engine.params[:] = np.random.default_rng(4).standard_normal(engine.size) * 0.2
        fresh = make_engine(np.random.default_rng(3))
        fresh.params[:] = engine.params
        train(engine, x, labels, SGD(0.1), threads, steps=3)
        train(fresh, x, labels, SGD(0.1), threads, steps=3)
        np.testing.assert_array_equal(engine.params, fresh.params)
        results.append(engine.params.copy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("rows,n_in,n_out", [(1, 7, 5), (32, 300, 200), (13, 100, 10)])
def test_dx_from_the_transposed_kernel_equals_the_reference(rng, rows, n_in, n_out):
    x = rng.standard_normal((rows, n_in)).astype(np.float32)
    w = rng.standard_normal((n_in, n_out)).astype(np.float32)
    y = rng.standard_normal((rows, n_out)).astype(np.float32)
    dy = rng.standard_normal((rows, n_out)).astype(np.float32)
    _, _, dx = dense_backward_check(x, w, y, dy, 0, level=small_gemm_level(), transposed=True)
    np.testing.assert_allclose(dx, dy.astype(np.float64) @ w.T.astype(np.float64),
                               rtol=1e-4, atol=1e-4 * np.sqrt(n_out))


def test_fit_follows_set_num_threads(rng):
    """model.fit trains as a team of config.num_threads() threads: the same bits on every run
    with the same count, one thread's weights up to rounding."""
    import fastmlp
    from fastmlp import config

    x, labels = data(rng)
    results = {}
    try:
        for threads in (1, 2, 2):
            config.set_num_threads(threads)
            fastmlp.utils.set_random_seed(3)
            model = fastmlp.Sequential([fastmlp.layers.Dense(64, activation="relu",
                                                             input_shape=(WIDTHS[0],)),
                                        fastmlp.layers.Dense(32, activation="relu"),
                                        fastmlp.layers.Dense(WIDTHS[-1], activation="softmax")])
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            history = model.fit(x, labels, batch_size=BATCH, epochs=2, verbose=0)
            results.setdefault(threads, []).append((model.get_weights(), history.history))
    finally:
        config.set_num_threads(None)
    (one, one_logs), (two, two_logs), (again, again_logs) = results[1][0], *results[2]
    for a, b in zip(two, again):
        np.testing.assert_array_equal(a, b)
    assert two_logs == again_logs
    for a, b in zip(two, one):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(two_logs["loss"], one_logs["loss"], rtol=1e-5)


def test_the_gemm_ceiling_of_a_team_is_one_threads_share(rng):
    """The benchmark's ceiling runs the products as train would: a team's thread computes its
    share of the rows (the scratch it reserves says how many)."""
    for rows, threads, share in ((BATCH, 1, BATCH), (BATCH, 2, BATCH // 2), (32, 2, 32)):
        net = make_engine(rng).network
        net.gemm_steps(rows, 1, threads)
        assert net.capacity == share


def test_the_at_once_ceiling_runs_each_member_on_a_thread_of_its_own():
    """With helpers, gemm_steps runs the members' shares at the same time: each member but the
    caller once, on a helper's thread, on its share's scratch; it writes no weight, raises if
    a helper does not start, and leaves the network ready for the next call. In a subprocess
    with a timeout: a team that does not meet would leave the calling thread waiting."""
    out = run_isolated(ISOLATED_ENGINE + f"""
        net, before = engine.network, engine.params.copy()
        asked, ran = [], []

        def helpers(task, count):
            asked.append(count)
            return start_team(lambda t: (ran.append(t), task(t)), count)

        net.gemm_steps({BATCH}, 3, 2, None, helpers)
        print(asked == [1] and ran == [1] and net.capacity == {BATCH} // 2)
        print(np.array_equal(engine.params, before))
        try:
            net.gemm_steps({BATCH}, 3, 2, None, lambda task, count: [])
        except RuntimeError as e:
            print(str(e) == "1 helper threads were asked for and 0 started: the team cannot meet")
        net.gemm_steps({BATCH}, 1, 2, None, helpers)  # not left busy, nor its barrier broken
        print(ran == [1, 1])
        net.gemm_steps({BATCH}, 1, 1, None, helpers)  # one thread: no team, no helper asked
        print(asked == [1, 1])
    """, timeout=120)
    assert out.split() == ["True"] * 5


def test_the_engine_takes_the_at_once_ceiling_with_the_team_threads(rng, monkeypatch):
    from fastmlp import config
    from fastmlp import engine as engine_module
    engine = make_engine(rng)
    asked = []

    def helpers(task, count):
        asked.append(count)
        return start_team(task, count)

    monkeypatch.setattr(engine_module, "start_team", helpers)
    try:
        config.set_num_threads(2)
        engine.gemm_steps(BATCH, 2)
        assert asked == []
        engine.gemm_steps(BATCH, 2, at_once=True)
        assert asked == [1]
    finally:
        config.set_num_threads(None)


def test_a_member_asked_to_run_on_the_calling_thread_raises_instead_of_waiting():
    """helpers that run a member on the calling thread itself (not on a thread of its own):
    the member would wait for member 0 at the first meeting, and member 0 for it. A clear
    error instead, for train and the at-once ceiling, and the network trains after. In a
    subprocess with a timeout: the bug is a thread that waits forever."""
    out = run_isolated(ISOLATED_ENGINE + f"""
        rng = np.random.default_rng(1)
        x = rng.standard_normal((4 * {BATCH}, widths[0])).astype(np.float32)
        labels = rng.integers(0, widths[-1], len(x)).astype(np.int32)
        rule = engine.new_rule(Adam(1e-3))
        before = engine.params.copy()
        on_caller = lambda task, count: [task(t) for t in range(1, count + 1)]
        for call in (lambda: engine.network.train(x, labels, None, None, 0, 4, {BATCH}, rule, 7,
                                                  None, 2, on_caller),
                     lambda: engine.network.gemm_steps({BATCH}, 2, 2, rule, on_caller)):
            try:
                call()
            except RuntimeError as e:
                print("own" in str(e) and "calling thread" in str(e))
        print(np.array_equal(engine.params, before))
        engine.network.train(x, labels, None, None, 0, 4, {BATCH}, rule, 7, None, 2, start_team)
        print(not np.array_equal(engine.params, before))
    """, timeout=120)
    assert out.split() == ["True"] * 4
