"""fastmlp's unit team: a training call's threads each owning blocks of every layer's units
(their kernel rows, slots and biases), for batches too small to share by rows. Oracles: the
float64 NumPy reference step, the calling thread training alone, and the team itself (the
same bits for the same team size)."""
import os

import numpy as np
import pytest
from conftest import run_isolated

from fastmlp import _reference as ref
from fastmlp._kernels.small_gemm import small_gemm_level
from fastmlp.engine import BatchNormStep, DenseStep, DropoutStep, Engine
from fastmlp.optimizers import SGD, Adagrad, Adam, Nadam, RMSprop
from fastmlp.parallel import start_team

pytestmark = pytest.mark.skipif(small_gemm_level() == 0,
                                reason="a training team needs fastmlp's own GEMM (AVX2 or AVX-512)")

# hidden widths off the 16-unit blocks (50, 33), an activation differentiated from its input
# (gelu keeps its pre-activation), one from its output (tanh); batch 32 is too small for a
# team sharing rows, big enough for a unit team of 2 (48: of 3)
LAYERS = ((300, 64, "relu"), (64, 50, "gelu"), (50, 33, "tanh"), (33, 5, "softmax"))
BATCH = 32


def make_engine(seed=0, layers=LAYERS, dtype=np.float32, extra=None, **dense):
    steps = [DenseStep(a, b, act, True, **dense) for a, b, act in layers]
    if extra is not None:
        steps.insert(1, extra)
    engine = Engine(steps, dtype)
    engine.params[:] = np.random.default_rng(seed).standard_normal(engine.size) * 0.2
    engine.set_loss("sparse_categorical_crossentropy", "sparse_categorical_accuracy")
    return engine


def data(rows=4 * BATCH + 13, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, LAYERS[0][0])).astype(np.float32)
    return x, rng.integers(0, LAYERS[-1][1], rows).astype(np.int32)


def train(engine, x, y, optimizer, threads, order=None, batch=BATCH, steps=100, rule=None,
          targets=None, weights=None, helpers=start_team):
    rule = rule or engine.new_rule(optimizer)
    result = engine.network.train(x, y, targets, order, 0, steps, batch, rule, 7, weights,
                                  threads, helpers)
    return result, rule


def expected_size(engine, optimizer, threads, batch=BATCH):
    """The unit team's size, after checking that no team sharing rows takes the call."""
    assert engine.network.team_size(threads, batch) == 1
    return engine.network.unit_team_size(threads, batch, engine.new_rule(optimizer))


def test_unit_team_size_rules():
    engine = make_engine()
    net, adam = engine.network, Adam(1e-3)
    assert expected_size(engine, adam, 2) == 2
    assert expected_size(engine, adam, 1) == 1
    assert expected_size(engine, adam, 3, batch=48) == 3
    assert expected_size(engine, adam, 8, batch=48) == 3    # 2**20 multiply-adds a thread
    assert net.unit_team_size(8, 4096, net_rule(engine)) == 3  # 33 units: 3 blocks
    assert expected_size(engine, SGD(0.1, momentum=0.9), 2) == 2
    assert expected_size(engine, Adam(1e-3, clipnorm=1.0), 2) == 1  # needs the whole gradient
    assert expected_size(make_engine(dtype=np.float64), adam, 2) == 1
    small = make_engine(layers=((30, 20, "relu"), (20, 5, "softmax")))
    assert expected_size(small, adam, 2) == 1
    assert expected_size(make_engine(layers=((300, 16, "relu"), (16, 5, "softmax"))), adam, 2) == 1
    assert expected_size(make_engine(layers=((300, 5, "softmax"),)), adam, 2) == 1
    assert expected_size(make_engine(layers=((300, 64, "softmax"), (64, 5, "softmax"))), adam, 2) == 1
    assert make_engine(extra=DropoutStep(64, 0.3, 1)).network.unit_team_size(
        2, BATCH, net_rule(engine)) == 2  # between two dense steps: each thread masks its units
    dropout_first = Engine([DropoutStep(300, 0.3, 1)] + [DenseStep(a, b, act, True)
                                                         for a, b, act in LAYERS], np.float32)
    dropout_first.set_loss("sparse_categorical_crossentropy", None)
    for other in (dropout_first,
                  make_engine(extra=BatchNormStep(64, 0.99, 1e-3, True, True)),
                  make_engine(kernel_penalty=(0.0, 1e-3)),
                  make_engine(activity_penalty=(1e-3, 0.0)),
                  make_engine(kernel_constraint=("max_norm", 2.0))):
        assert other.network.unit_team_size(2, BATCH, net_rule(other)) == 1
    net.set_gemm_levels(net.gemm_levels[0], 0)  # BLAS's threads would fight the team's
    assert net.unit_team_size(2, BATCH, net_rule(engine)) == 1


def net_rule(engine):
    return engine.new_rule(Adam(1e-3))


def test_team_for_gives_a_call_the_unit_team_below_64_rows_a_thread_or_past_the_cache():
    engine = make_engine()
    net, rule = engine.network, net_rule(engine)
    assert net.team_size(2, 64) == 2 and net.unit_team_size(2, 64, rule) == 2
    assert net.team_for(2, 64, rule) == (2, True)    # 32 rows a thread
    assert net.team_for(2, 128, rule) == (2, False)  # 64 rows a thread; 195 KB of weights, gradient
    assert net.team_for(2, 128) == (2, False)        # without the rule, never a unit team
    assert net.team_for(2, BATCH, rule) == (2, True)  # no team shares 32 rows
    assert net.team_for(1, 128, rule) == (1, False)
    net.set_team_choice(64, net.trainable * 8 - 1)
    assert net.team_for(2, 128, rule) == (2, True)   # weights and a gradient past the cache
    net.set_team_choice(64, net.trainable * 8)
    assert net.team_for(2, 128, rule) == (2, False)
    net.set_team_choice(0, 1 << 62)
    assert net.team_for(2, 64, rule) == (2, False)
    # where no unit team may train, the rows team takes 32 rows a thread
    penalized = make_engine(kernel_penalty=(0.0, 1e-3))
    assert penalized.network.team_for(2, 64, net_rule(penalized)) == (2, False)
    for bad in ((-1, 0), (0, -1)):
        with pytest.raises(ValueError, match="units_below_rows"):
            net.set_team_choice(*bad)


def test_train_runs_the_team_that_team_for_names():
    x, y = data()

    def trained(units_below_rows):
        engine = make_engine()
        engine.network.set_team_choice(units_below_rows, 1 << 62)
        train(engine, x, y, Adam(1e-3), 2, batch=64, steps=20)
        return engine.params.copy()

    default, units, rows = trained(64), trained(1 << 30), trained(0)
    assert np.array_equal(default, units)
    assert not np.array_equal(default, rows)  # summed by rows: other bits


def reference_step(engine, params, x, classes, lr):
    """params after one SGD(lr) step on (x, classes), in float64 NumPy."""
    p = params.astype(np.float64)
    inputs, pres, acts, h = [], [], [], x.astype(np.float64)
    for i, step in enumerate(engine.steps):
        w, b = engine.views(i, p)
        inputs.append(h)
        pres.append(h @ w + b)
        h = ref.activation(pres[-1], step.activation)
        acts.append(h)
    delta = ref.fused_gradient("sparse_categorical_crossentropy", acts[-1], classes)
    grads = np.zeros_like(p)
    for i in range(len(engine.steps) - 1, -1, -1):
        w, _ = engine.views(i, p)
        gw, gb = engine.views(i, grads)
        gw[...] = inputs[i].T @ delta
        gb[...] = delta.sum(axis=0)
        if i:
            delta = ref.activation_backward(delta @ w.T, acts[i - 1], engine.steps[i - 1].activation,
                                            pres[i - 1])
    return p - lr * grads


@pytest.mark.parametrize("threads,batch", [(2, BATCH), (3, 48)])
def test_unit_team_steps_equal_the_float64_reference(threads, batch):
    engine = make_engine()
    assert expected_size(engine, SGD(0.1), threads, batch) == threads
    x, labels = data()
    order = np.random.default_rng(2).permutation(len(x)).astype(np.int64)
    expected = engine.params.astype(np.float64)
    for step in range(-(-len(x) // batch)):  # the last batch short: a team too
        rows = order[step * batch:(step + 1) * batch]
        expected = reference_step(engine, expected, x[rows], labels[rows], 0.1)
    (_, _, samples, bad), _ = train(engine, x, labels, SGD(0.1), threads, order, batch)
    assert (samples, bad) == (len(x), -1)
    np.testing.assert_allclose(engine.params, expected, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("optimizer", [lambda: Adam(1e-3), lambda: SGD(0.05, momentum=0.9),
                                       lambda: RMSprop(1e-3), lambda: Adagrad(0.01),
                                       lambda: Adam(1e-3, weight_decay=0.01, clipvalue=0.01)])
def test_unit_team_equals_one_thread_and_repeats_its_bits(optimizer):
    """Each member updates its own units' parameters and slots: the one-thread result up to
    rounding (the products' sums split at the members' units), the same loss and metrics up
    to rounding, and the same bits on every run with the same team."""
    x, labels = data()
    order = np.random.default_rng(3).permutation(len(x)).astype(np.int64)
    results = {}
    for threads, batch in ((1, BATCH), (2, BATCH), (2, BATCH), (3, 48), (3, 48), (1, 48)):
        engine = make_engine()
        if threads > 1:
            assert expected_size(engine, optimizer(), threads, batch) == threads
        (loss, (acc,), samples, bad), rule = train(engine, x, labels, optimizer(), threads,
                                                   order, batch)
        assert (samples, bad) == (len(x), -1)
        results.setdefault((threads, batch), []).append((engine.params.copy(), loss, acc,
                                                         rule.iterations))
    for one, team in (((1, BATCH), (2, BATCH)), ((1, 48), (3, 48))):
        first, again = results[team]
        np.testing.assert_array_equal(first[0], again[0])
        assert first[1:] == again[1:]
        alone = results[one][0]
        assert not np.array_equal(first[0], alone[0])  # a team ran: its sums are split
        np.testing.assert_allclose(first[0], alone[0], rtol=1e-4, atol=1e-5)
        assert first[1] == pytest.approx(alone[1], rel=1e-5) and first[3] == alone[3]
        assert abs(first[2] - alone[2]) <= 1


def dropout_engine(places):
    """LAYERS with a dropout step (rate 0.5) after each dense step whose index is in places."""
    steps = []
    for i, (a, b, act) in enumerate(LAYERS):
        steps.append(DenseStep(a, b, act, True))
        steps += [DropoutStep(b, 0.5, 11 + i + k) for k in range(places.count(i))]
    engine = Engine(steps, np.float32)
    engine.params[:] = np.random.default_rng(0).standard_normal(engine.size) * 0.2
    engine.set_loss("sparse_categorical_crossentropy", "sparse_categorical_accuracy")
    return engine


@pytest.mark.parametrize("places", [(0,), (0, 1, 1, 2)])
def test_unit_team_with_dropout_equals_one_thread(places):
    """Each member masks its own units with the whole batch's mask, forward and back (two
    dropout steps in a row too): at a rate of 0.5 a mask that differed anywhere would move
    the weights far from one thread's."""
    x, labels = data()
    order = np.random.default_rng(8).permutation(len(x)).astype(np.int64)
    results = {}
    for threads in (1, 2, 2):
        engine = dropout_engine(places)
        if threads > 1:
            assert expected_size(engine, Adam(1e-3), threads) == threads
        (loss, (acc,), _, _), _ = train(engine, x, labels, Adam(1e-3), threads, order)
        results.setdefault(threads, []).append((engine.params.copy(), loss, acc))
    (first, again), alone = results[2], results[1][0]
    np.testing.assert_array_equal(first[0], again[0])
    assert first[1:] == again[1:]
    assert not np.array_equal(first[0], alone[0])
    np.testing.assert_allclose(first[0], alone[0], rtol=1e-4, atol=1e-5)
    assert first[1] == pytest.approx(alone[1], rel=1e-5)


def test_unit_team_with_targets_weights_and_rows_in_order():
    """A loss read from targets (not fused with the last activation: its derivative is the
    calling thread's), sample weights, the rows in order (no gather)."""
    x, _ = data()
    rng = np.random.default_rng(4)
    targets = rng.uniform(0, 1, (len(x), LAYERS[-1][1])).astype(np.float32)
    weights = rng.uniform(0.2, 2.0, len(x)).astype(np.float32)
    layers = (*LAYERS[:-1], (33, 5, "sigmoid"))
    results = []
    for threads in (1, 2, 2):
        engine = make_engine(layers=layers)
        engine.set_loss("mean_squared_error", None)
        if threads > 1:
            assert expected_size(engine, Adam(1e-3), threads) == threads
        (loss, _, samples, _), _ = train(engine, x, None, Adam(1e-3), threads, targets=targets,
                                         weights=weights)
        assert samples == len(x)
        results.append((engine.params.copy(), loss))
    np.testing.assert_array_equal(results[1][0], results[2][0])
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-4, atol=1e-5)
    assert results[1][1] == pytest.approx(results[0][1], rel=1e-5)


@pytest.mark.parametrize("bad", [-1, "rows"])
def test_a_bad_index_stops_a_unit_team_before_the_step(bad):
    engine = make_engine()
    x, labels = data()
    order = np.arange(len(x), dtype=np.int64)
    order[BATCH + 7] = len(x) if bad == "rows" else bad  # step 1
    rule = engine.new_rule(Adam(1e-3))
    assert expected_size(engine, Adam(1e-3), 2) == 2
    train(engine, x, labels, None, 2, order, steps=1, rule=rule)
    before, iterations = engine.params.copy(), rule.iterations
    with pytest.raises(ValueError, match="outside"):
        engine.network.train(x, labels, None, order, 1, 3, BATCH, rule, 7, None, 2, start_team)
    np.testing.assert_array_equal(engine.params, before)
    assert rule.iterations == iterations == 1


@pytest.mark.parametrize("row", [3, 20])
def test_a_nonfinite_loss_in_a_unit_team_is_reported_and_not_applied(row):
    """Each member computes the loss of its share of the batch's rows (0-15, 16-31): a loss
    that is not finite in either share stops both members, and the step begun is cancelled."""
    engine = make_engine(layers=(*LAYERS[:-1], (33, 5, "linear")))
    engine.set_loss("mean_squared_error", None)
    x, _ = data()
    targets = np.random.default_rng(5).standard_normal((len(x), 5)).astype(np.float32)
    targets[BATCH + row] = np.inf  # step 1
    rule = engine.new_rule(Adam(1e-3))
    assert expected_size(engine, Adam(1e-3), 2) == 2
    assert engine.network.train(x, None, targets, None, 0, 1, BATCH, rule, 7, None, 2,
                                start_team)[3] == -1
    before = engine.params.copy()
    _, _, samples, bad = engine.network.train(x, None, targets, None, 1, 3, BATCH, rule, 7,
                                              None, 2, start_team)
    assert (bad, samples) == (1, 0)
    np.testing.assert_array_equal(engine.params, before)
    assert rule.iterations == 1


def test_weights_set_between_calls_reach_a_unit_teams_backward():
    """Each member's dx reads its kernel rows in place (no copy of Wᵀ to go stale): weights set
    between calls are the ones the next call's forward and backward read."""
    x, labels = data()
    engine = make_engine()
    train(engine, x, labels, SGD(0.1), 2, steps=2)
    engine.params[:] = np.random.default_rng(6).standard_normal(engine.size) * 0.2
    fresh = make_engine()
    fresh.params[:] = engine.params
    train(engine, x, labels, SGD(0.1), 2, steps=3)
    train(fresh, x, labels, SGD(0.1), 2, steps=3)
    np.testing.assert_array_equal(engine.params, fresh.params)


def test_a_unit_team_whose_helpers_do_not_start_trains_alone():
    """Fewer helpers than asked for: the calling thread trains alone, with the one-thread
    bits. In a subprocess with a timeout: a broken fallback would wait for its team forever."""
    out = run_isolated(f"""
        import numpy as np
        from fastmlp.engine import DenseStep, Engine
        from fastmlp.optimizers import Adam
        from fastmlp.parallel import start_team

        rng = np.random.default_rng(1)
        x = rng.standard_normal((4 * {BATCH} + 13, {LAYERS[0][0]})).astype(np.float32)
        labels = rng.integers(0, {LAYERS[-1][1]}, len(x)).astype(np.int32)

        def trained(threads, helpers):
            engine = Engine([DenseStep(a, b, act, True) for a, b, act in {LAYERS!r}], np.float32)
            engine.params[:] = np.random.default_rng(9).standard_normal(engine.size) * 0.2
            engine.set_loss("sparse_categorical_crossentropy", None)
            rule = engine.new_rule(Adam(1e-3))
            assert engine.network.unit_team_size(threads, {BATCH}, rule) == threads
            engine.network.train(x, labels, None, None, 0, 100, {BATCH}, rule, 7, None, threads,
                                 helpers)
            return engine.params.copy()

        alone = trained(1, start_team)
        none_started = trained(2, lambda task, count: start_team(task, count)[:0])
        no_helpers = trained(2, None)
        team = trained(2, start_team)
        print(np.array_equal(none_started, alone), np.array_equal(no_helpers, alone),
              np.array_equal(team, alone))
    """, timeout=120)
    assert out.split() == ["True", "True", "False"]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"),
                    reason="the scenario pins the process to one core (Linux)")
def test_a_unit_team_on_one_core_finishes_with_its_bits():
    """Two members on one core (the process pinned, as when a busy host leaves the process one
    core): at every meeting one member waits for the other to be scheduled; the call still
    finishes, with the team's bits. In a subprocess with a timeout (a meeting that never
    completed would hang the run)."""
    out = run_isolated(f"""
        import os
        import numpy as np
        from fastmlp.engine import DenseStep, Engine
        from fastmlp.optimizers import Adam
        from fastmlp.parallel import start_team

        rng = np.random.default_rng(1)
        x = rng.standard_normal((4 * {BATCH} + 13, {LAYERS[0][0]})).astype(np.float32)
        labels = rng.integers(0, {LAYERS[-1][1]}, len(x)).astype(np.int32)
        order = rng.permutation(len(x)).astype(np.int64)

        def trained():
            engine = Engine([DenseStep(a, b, act, True) for a, b, act in {LAYERS!r}], np.float32)
            engine.params[:] = np.random.default_rng(9).standard_normal(engine.size) * 0.2
            engine.set_loss("sparse_categorical_crossentropy", None)
            rule = engine.new_rule(Adam(1e-3))
            assert engine.network.unit_team_size(2, {BATCH}, rule) == 2
            for _ in range(3):
                engine.network.train(x, labels, None, order, 0, 100, {BATCH}, rule, 7, None, 2,
                                     start_team)
            return engine.params.copy()

        spread = trained()
        os.sched_setaffinity(0, {{sorted(os.sched_getaffinity(0))[0]}})
        print(np.array_equal(trained(), spread))
    """, timeout=120)
    assert out.split() == ["True"]


def test_fit_at_a_small_batch_trains_as_a_unit_team():
    """model.fit on two threads at batch 32 (no team sharing rows): a unit team's weights,
    the same bits on every run, one thread's up to rounding."""
    import fastmlp
    from fastmlp import config

    x, labels = data(rows=300)
    results = {}
    try:
        for threads in (1, 2, 2):
            config.set_num_threads(threads)
            fastmlp.utils.set_random_seed(3)
            model = fastmlp.Sequential([fastmlp.Input(shape=(LAYERS[0][0],))]
                                       + [fastmlp.layers.Dense(b, activation=act)
                                          for _, b, act in LAYERS])
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
    assert any(not np.array_equal(a, b) for a, b in zip(two, one))
    for a, b in zip(two, one):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(two_logs["loss"], one_logs["loss"], rtol=1e-5)


def test_nadam_trains_alone_at_a_small_batch():
    """A rule that cannot apply a step in parts (Nadam keeps a product of momenta beyond its
    slots) leaves a small batch to one thread: two threads give one thread's bits."""
    assert expected_size(make_engine(), Nadam(1e-3), 2) == 1
    x, labels = data()
    results = []
    for threads in (1, 2):
        engine = make_engine()
        train(engine, x, labels, Nadam(1e-3), threads)
        results.append(engine.params.copy())
    np.testing.assert_array_equal(results[0], results[1])


def test_the_gemm_ceiling_takes_the_rule_and_leaves_the_weights():
    """gemm_steps with the update rule runs a unit team's largest share of the products (on
    the whole batch's rows) and writes no weight."""
    engine = make_engine()
    net, before = engine.network, engine.params.copy()
    assert net.unit_team_size(2, BATCH, net_rule(engine)) == 2
    net.gemm_steps(BATCH, 2, 2, net_rule(engine))
    assert net.capacity == BATCH
    np.testing.assert_array_equal(engine.params, before)


def test_the_at_once_ceiling_of_a_unit_team_runs_every_members_units():
    """With helpers, a unit team's members run their units' products at the same time (the
    helper's on a thread of its own), over the whole batch, and write no weight."""
    engine = make_engine()
    net, before = engine.network, engine.params.copy()
    ran = []
    net.gemm_steps(BATCH, 2, 2, net_rule(engine),
                   lambda task, count: start_team(lambda t: (ran.append(t), task(t)), count))
    assert ran == [1] and net.capacity == BATCH
    np.testing.assert_array_equal(engine.params, before)
