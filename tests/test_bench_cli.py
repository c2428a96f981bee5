"""Smoke test of the benchmark CLI (the benchmarks themselves live in bench/ and are not run
here): it runs, reports missing peers honestly, and writes valid JSON. Also checks that the
NumPy baseline it races against computes the same training step as fastmlp."""
import json
import os
import statistics
import subprocess
import sys

import numpy as np
import pytest

import fastmlp as keras
from fastmlp.bench.numpy_mlp import NumpyMLP


def test_quick_run_writes_json_and_table(tmp_path):
    out = tmp_path / "results"
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-m", "fastmlp.bench", "--quick", "--workloads", "M1", "--only",
         "fastmlp,numpy,keras", "--samples", "2048", "--out", str(out), "--no-footprint"],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Training throughput" in proc.stdout and "fm/numpy" in proc.stdout
    assert "[fastmlp-bench] 1 thread(s): training M1 batch 128: fastmlp" in proc.stderr
    results = json.loads((out / "results.json").read_text())
    run = results["runs"][0]
    assert run["threads"] == 1 and run["data"]["samples"] == 2048
    # the one-sample row's zeros, which fastmlp's one-row calls skip, reported beside it
    zeros = run["data"]["one_sample_zero_fraction"]
    assert 0 <= zeros <= 1 and f"{zeros:.0%} of its inputs zero" in proc.stdout
    names = {r["competitor"] for r in run["training"]}
    assert {"fastmlp", "numpy"} <= names
    for r in run["training"]:
        assert r["samples_per_s"] > 0 and len(r["epoch_seconds"]) == 1
        low, median, high = r["samples_per_s_min_median_max"]
        assert low <= median <= high and median == pytest.approx(r["samples_per_s"])
        # a quick run's epochs are too short for a reading of the load
        assert r["percent_of_sgemm_peak"] > 0 and (r["background_load"] is None or 0 <= r["background_load"] <= 1)
    assert "%peak" in proc.stdout
    assert run["ceiling"][0]["samples_per_s"] > 0 and run["sgemm_gflops_2048"] > 0
    assert {(r["competitor"], r["mode"]) for r in run["latency"]} >= {("fastmlp", "predict_on_batch"), ("numpy", "forward")}
    assert all(r["max_us"] >= r["p99_us"] >= r["median_us"] >= r["min_us"] > 0 for r in run["latency"])
    # each round's median kept, for ratios paired round by round
    assert all(len(r["round_median_us"]) == r["rounds"] for r in run["latency"] + run["throughput"])
    assert "paired round by round" in proc.stdout
    for r in run["throughput"] + run["ceiling"]:
        low, median, high = r["samples_per_s_min_median_max"]
        assert 0 < low <= median <= high and median == pytest.approx(r["samples_per_s"])
    # a peer that is not installed is reported as such, never as a figure
    if "keras" not in names:
        assert "not installed" in run["missing"]["keras"]
        assert "keras: not installed" in proc.stdout
    blas = run["environment"]["blas"]
    assert blas and ("architecture" in blas[0] or "error" in blas[0])
    # the CPU by vendor, family and model beside its name (a VM's name can be generic)
    identity = run["environment"]["cpu_identity"]
    if identity:
        assert f"family {identity['family']} model {identity['model']}" in proc.stdout.splitlines()[0]
    # each engine measured in a worker process of its own (one "data" line per worker)
    assert proc.stderr.count("1 thread(s): data") == len(names)
    assert {(c["competitor"], c["batch"], c["callers"]) for c in run["concurrent"]} == {
        ("fastmlp", 1, 1), ("fastmlp", 1, 2), ("fastmlp", 64, 1), ("fastmlp", 64, 2)}
    assert "Concurrent requests" in proc.stdout


def test_inference_figures_take_every_engines_calls_in_turn(monkeypatch):
    from contextlib import contextmanager

    from fastmlp.bench import measure
    monkeypatch.setattr(measure, "settle", lambda: True)
    log = []

    class Engine:
        def __init__(self, name):
            self.name = name

        def build(self, workload):
            pass

        def inference_modes(self):
            return {"call": lambda x: log.append((self.name, len(x)))}

    class Rotation:
        @contextmanager
        def turn(self):
            log.append("turn")
            yield

    result = {"latency": [], "throughput": []}
    x = np.zeros((1024, 784), np.float32)
    measure._inference(result, {"a": Engine("a"), "b": Engine("b")}, "M1", x, 50, 1.0, 1,
                       turns=Rotation())
    # the builds' turn, then each round a turn of one-sample calls and a turn of batch calls
    blocks = "".join("|" if c == "turn" else "s" if c[1] == 1 else "B" for c in log).split("|")
    assert blocks[:2] == ["", ""] and len(blocks) == 2 + 2 * measure.INFERENCE_ROUNDS
    assert all(set(b) == {"s"} for b in blocks[2::2]) and all(set(b) == {"B"} for b in blocks[3::2])
    log[:] = [c for c in log if c != "turn"]
    # each round: a's one-sample calls, b's, then a's batch calls, b's; rounds repeat that
    turns = [log[0]] + [call for before, call in zip(log, log[1:]) if call != before]
    assert turns == [("a", 1), ("b", 1), ("a", 1024), ("b", 1024)] * measure.INFERENCE_ROUNDS
    for r in result["latency"] + result["throughput"]:
        assert r["rounds"] == measure.INFERENCE_ROUNDS
    # each figure pools its rounds: 50 one-sample calls (5 a round), 200 batch calls (20)
    assert [r["calls"] for r in result["latency"]] == [50, 50]
    assert [r["calls"] for r in result["throughput"]] == [200, 200]


def test_fastmlp_epochs_and_its_ceiling_are_taken_in_the_same_rounds(monkeypatch):
    from fastmlp.bench import measure
    from fastmlp.bench.competitors import Fastmlp, Numpy
    monkeypatch.setattr(measure, "settle", lambda: True)
    log = []

    def recording(cls):
        class Engine(cls):
            def __init__(self):
                pass

            def build(self, workload):
                log.append((self.name, "build"))

            def train_epoch(self, x, y, batch_size):
                log.append((self.name, "warm" if len(x) < 10_000 else "epoch"))

            def gemm_ceiling(self, batch_size, steps):
                log.append((self.name, f"ceiling {batch_size} {steps}"))
        return Engine()

    result = {"training": [], "ceiling": [], "sgemm_gflops_2048": 100.0}
    x, y = np.zeros((12_000, 784), np.float32), np.zeros(12_000, np.int32)
    for engine in (recording(Fastmlp), recording(Numpy)):
        measure._training(result, engine, "M1", 32, x, y, epochs=2)
    # fastmlp: a ceiling run before each epoch (3 at least); the others: their epochs alone
    ceiling = ("fastmlp", "ceiling 32 375")
    assert log == [("fastmlp", "build"), ("fastmlp", "warm"),
                   ceiling, ("fastmlp", "epoch"), ceiling, ("fastmlp", "epoch"), ceiling,
                   ("numpy", "build"), ("numpy", "warm"), ("numpy", "epoch"), ("numpy", "epoch")]
    assert [r["competitor"] for r in result["training"]] == ["fastmlp", "numpy"]
    assert [len(r["epoch_seconds"]) for r in result["training"]] == [2, 2]
    assert len(result["ceiling"]) == 1 and len(result["ceiling"][0]["epoch_seconds"]) == 3


def test_fastmlp_on_threads_is_timed_beside_one_thread_and_side_by_side_fits(monkeypatch):
    """In a worker of two threads, each round of fastmlp's: its ceiling (one share alone, then
    the shares at once), its epoch, an epoch on one thread, then two one-thread epochs at once;
    the times kept round by round."""
    from fastmlp.bench import measure
    from fastmlp.bench.competitors import Fastmlp
    monkeypatch.setattr(measure, "settle", lambda: True)
    log = []

    class Engine(Fastmlp):
        def __init__(self):
            self.threads = 2

        def build(self, workload):
            log.append("build")

        def train_epoch(self, x, y, batch_size):
            log.append("warm" if len(x) < 10_000 else "epoch")

        def gemm_ceiling(self, batch_size, steps, at_once=False):
            log.append("ceiling at once" if at_once else "ceiling")

        def one_thread_epochs(self, x, y, batch_size, at_once):
            log.append(f"{'warm ' if len(x) < 10_000 else ''}{at_once} at once")
            return 1.0 * at_once

    result = {"training": [], "ceiling": [], "sgemm_gflops_2048": 100.0}
    x, y = np.zeros((12_000, 784), np.float32), np.zeros(12_000, np.int32)
    measure._training(result, Engine(), "M1", 32, x, y, epochs=2)
    round_ = ["ceiling", "ceiling at once", "epoch", "1 at once", "2 at once"]
    assert log == ["build", "warm", "warm 2 at once"] + round_ * 2 + round_[:2]
    entry = result["training"][0]
    assert entry["one_thread_epoch_seconds"] == [1.0, 1.0]
    assert entry["side_by_side_epoch_seconds"] == [2.0, 2.0] and entry["side_by_side_epochs"] == 2
    ceiling = result["ceiling"][0]
    assert len(ceiling["epoch_seconds"]) == len(ceiling["at_once_epoch_seconds"]) == 3
    assert ceiling["at_once_samples_per_s"] == len(x) / statistics.median(
        ceiling["at_once_epoch_seconds"])
    # a worker of one thread: neither
    log.clear()
    one = Engine()
    one.threads = 1
    result["training"].clear()
    measure._training(result, one, "M1", 32, x, y, epochs=1)
    assert not any("at once" in step for step in log)
    assert "one_thread_epoch_seconds" not in result["training"][0]
    assert "at_once_epoch_seconds" not in result["ceiling"][-1]


def test_the_threads_table_pairs_each_round():
    from fastmlp.bench import report
    # round 2 in a slow phase: every figure of it slower, its ratios the same
    fit = {"workload": "M2", "batch": 128, "competitor": "fastmlp",
           "epoch_seconds": [0.6, 1.2, 0.6], "one_thread_epoch_seconds": [0.9, 1.8, 0.9],
           "side_by_side_epoch_seconds": [1.0, 2.0, 1.0], "side_by_side_epochs": 2}
    other = {"workload": "M2", "batch": 128, "competitor": "numpy", "epoch_seconds": [1.0]}
    # the ceiling: one share alone 0.3 s, the shares at once 0.4 s (its fourth round has no
    # epoch: a ceiling round past the epochs)
    ceiling = {"workload": "M2", "batch": 128, "epoch_seconds": [0.3, 0.6, 0.3, 0.15],
               "at_once_epoch_seconds": [0.4, 0.8, 0.4, 0.2]}
    lines = report._threads_table({"training": [fit, other], "ceiling": [ceiling]})
    assert len(lines) == 2 and lines[0].split()[:4] == ["workload", "batch", "2", "threads"]
    assert lines[0].rstrip().endswith("GEMMs at once     % at once")
    row = lines[1]
    # 0.9 / 0.6 = 1.5x its own one thread; 2 x 0.9 / 1.0 = 1.8x side by side; 1.5 / 1.8 = 83%;
    # the shares at once 0.3 / 0.4 = 0.75x the ceiling alone, the epoch 0.4 / 0.6 = 67% of them
    assert row.split()[:2] == ["M2", "128"]
    assert "1.50x [1.50-1.50]" in row and "1.80x [1.80-1.80]" in row and "83% [83-83]" in row
    assert "0.75x [0.75-0.75]" in row and row.endswith("67% [67-67]")
    assert report._threads_table({"training": [other]}) == []
    # a run without the at-once ceiling (results.json from before it): dashes
    assert report._threads_table({"training": [fit], "ceiling": []})[1].endswith("—")


def test_one_thread_epochs_trains_copies_side_by_side_on_one_thread_each(monkeypatch):
    from fastmlp import config
    from fastmlp.bench.competitors import Fastmlp
    from fastmlp.bench.workloads import WORKLOADS
    seen = []
    real_fit = Fastmlp.train_epoch

    def fit(self, x, y, batch_size):
        seen.append(config.num_threads())
        real_fit(self, x, y, batch_size)

    monkeypatch.setattr(Fastmlp, "train_epoch", fit)
    try:
        engine = Fastmlp(2)
        engine.build(WORKLOADS["M1"])
        rng = np.random.default_rng(0)
        x = rng.random((256, 784), dtype=np.float32)
        y = rng.integers(0, 10, 256).astype(np.int32)
        before = engine.model.get_weights()[0].copy()
        assert engine.one_thread_epochs(x, y, 32, 1) > 0 and engine.copies == []
        assert engine.one_thread_epochs(x, y, 32, 2) > 0 and len(engine.copies) == 1
        # every epoch on one thread, this worker's threads back after
        assert seen == [1, 1, 1] and config.num_threads() == 2
        copy = engine.copies[0]
        assert not np.array_equal(engine.model.get_weights()[0], before)  # this model trained
        assert copy.model is not engine.model and copy.workload is engine.workload
    finally:
        config.set_num_threads(None)


def test_every_engine_makes_the_same_turns_in_a_training_cell(monkeypatch):
    """Workers stay aligned cell by cell only if each makes as many turns, trained or not."""
    from contextlib import contextmanager

    from fastmlp.bench import measure
    from fastmlp.bench.competitors import Fastmlp, Numpy, OnnxRuntime
    monkeypatch.setattr(measure, "settle", lambda: True)

    class Counting:
        def __init__(self):
            self.turns = 0

        @contextmanager
        def turn(self):
            self.turns += 1
            yield

    def quiet(cls):
        class Engine(cls):
            def __init__(self):
                pass

            def build(self, workload):
                pass

            def train_epoch(self, x, y, batch_size):
                pass

            def gemm_ceiling(self, batch_size, steps):
                pass
        return Engine()

    x, y = np.zeros((12_000, 784), np.float32), np.zeros(12_000, np.int32)
    for epochs in (1, 3, 5):
        counts = []
        for cls in (Fastmlp, Numpy, OnnxRuntime):
            rotation = Counting()
            result = {"training": [], "ceiling": [], "sgemm_gflops_2048": 100.0}
            measure._training(result, quiet(cls), "M1", 32, x, y, epochs, rotation)
            counts.append(rotation.turns)
            assert len(result["training"]) == (0 if cls is OnnxRuntime else 1)
        assert counts == [1 + max(3, epochs)] * 3


def test_fastmlp_runs_on_the_threads_of_its_worker():
    from fastmlp import config
    from fastmlp.bench.competitors import Fastmlp
    try:
        Fastmlp(1)
        assert config.num_threads() == 1
        Fastmlp(2)
        assert config.num_threads() == 2
    finally:
        config.set_num_threads(None)


def test_workers_merge_into_one_run_per_thread_count():
    from fastmlp.bench.cli import merge_workers

    def worker(engine, sgemm):
        return {"threads": 2, "sgemm_gflops_2048": sgemm, "data": {"samples": 10},
                "training": [{"workload": w, "batch": 32, "competitor": engine} for w in ("M1", "M2")],
                "ceiling": [{"workload": "M1", "batch": 32}] if engine == "fastmlp" else [],
                "latency": [{"workload": w, "competitor": engine} for w in ("M1", "M2")],
                "throughput": [], "concurrent": [], "missing": {}, "versions": {engine: "1.0"}}

    run = merge_workers([worker("fastmlp", 100.0), worker("numpy", 90.0)], {"keras": "not installed"})
    assert run["sgemm_gflops_2048"] == 100.0 and run["threads"] == 2
    assert [(r["workload"], r["competitor"]) for r in run["latency"]] == [
        ("M1", "fastmlp"), ("M1", "numpy"), ("M2", "fastmlp"), ("M2", "numpy")]
    assert len(run["training"]) == 4 and len(run["ceiling"]) == 1
    assert run["versions"] == {"fastmlp": "1.0", "numpy": "1.0"}
    assert run["missing"] == {"keras": "not installed"}


def test_bad_arguments_are_rejected(tmp_path):
    # run outside the source tree, so that `-m` imports the installed package
    proc = subprocess.run([sys.executable, "-m", "fastmlp.bench", "--workloads", "M3"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2 and "M1 and/or M2" in proc.stderr


def test_numpy_baseline_takes_the_same_step_as_fastmlp():
    rng = np.random.default_rng(0)
    x = rng.random((16, 784), dtype=np.float32)
    y = rng.integers(0, 10, 16)
    mlp = NumpyMLP([784, 30, 10])
    model = keras.Sequential([keras.layers.Dense(30, activation="relu", input_shape=(784,)),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.set_weights([mlp.W[0], mlp.b[0], mlp.W[1], mlp.b[1]])
    for _ in range(3):
        mlp.train_step(x, y)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for got, want in zip(model.get_weights(), [mlp.W[0], mlp.b[0], mlp.W[1], mlp.b[1]]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_runs_from_a_source_tree(tmp_path):
    # the README runs fastmlp-bench from the repository root: its worker processes must import
    # the installed package, not the uncompiled sources beside them
    (tmp_path / "fastmlp").mkdir()
    (tmp_path / "fastmlp" / "__init__.py").write_text("raise ImportError('the source tree was imported')\n")
    proc = subprocess.run([sys.executable, "-c", "import sys; del sys.path[0]; from fastmlp.bench import main; "
                           "sys.exit(main(sys.argv[1:]))", "--quick", "--workloads", "M1", "--only", "fastmlp",
                           "--samples", "1024", "--out", "out"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "out").is_dir()
    # the footprint's fresh interpreters import the installed package too
    assert "fastmlp: import" in proc.stdout and "load_model of M2 (.fastmlp)" in proc.stdout, proc.stdout


def test_without_fashion_mnist_the_benchmark_trains_on_learnable_data(tmp_path, monkeypatch):
    """The fallback data can be learned, as real data can: balanced classes, accuracy well above
    chance after two epochs, and most ReLUs alive (uniform noise killed nearly all of them)."""
    monkeypatch.setenv("FASTMLP_DATA", str(tmp_path))  # an empty cache
    from fastmlp.bench.workloads import load_data
    x, y, source = load_data(12000)
    assert source.startswith("synthetic") and x.shape == (12000, 784) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1 and 0.3 < np.mean(x == 0) < 0.7
    counts = np.bincount(y, minlength=10)
    assert counts.min() > 0.5 * counts.mean() and counts.max() < 1.5 * counts.mean()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(100, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x[:10000], y[:10000], epochs=2, verbose=0, validation_data=(x[10000:], y[10000:]))
    assert history.history["val_accuracy"][-1] > 0.4  # chance is 0.1
    kernel, bias = model.layers[0].get_weights()
    alive = (np.maximum(x[10000:] @ kernel + bias, 0) > 0).any(axis=0)
    assert alive.mean() > 0.6


def test_the_background_load_counts_other_processes_not_this_one(monkeypatch):
    """The reading is the machine's busy CPU time less this process's own, over the wall time
    of the block and the cores (fed known counters: no timing in a test); blocks too short for
    /proc/stat's clock ticks get no reading."""
    from fastmlp.bench import load
    counters = {"busy": 100.0, "own": 10.0, "wall": 50.0}
    monkeypatch.setattr(load, "_busy_seconds", lambda: counters["busy"])
    monkeypatch.setattr(load, "_own_seconds", lambda: counters["own"])
    monkeypatch.setattr(load.time, "perf_counter", lambda: counters["wall"])
    monkeypatch.setattr(load.os, "cpu_count", lambda: 2)
    with load.Meter() as meter:  # 2 s on 2 cores: 1.5 CPU-s busy, 1.0 of them this process's
        counters.update(busy=101.5, own=11.0, wall=52.0)
    assert meter.load == pytest.approx(0.5 / 4)
    with load.Meter() as own_only:  # all the busy time is this process's own
        counters.update(busy=103.5, own=13.0, wall=54.0)
    assert own_only.load == 0
    with load.Meter() as short:  # under MIN_SECONDS
        counters.update(busy=104.0, own=13.0, wall=54.0 + load.MIN_SECONDS / 2)
    assert short.load is None
    monkeypatch.setattr(load, "_busy_seconds", lambda: None)  # no /proc/stat
    with load.Meter() as missing:
        counters.update(wall=60.0)
    assert missing.load is None


def test_settle_waits_for_the_other_threads_to_stop_spinning(monkeypatch):
    """settle() sleeps window after window until one in which this process's other threads
    used under QUIET of it (True), and gives up at max_seconds (False); fed clocks."""
    from fastmlp.bench import load
    clock = {"wall": 0.0, "others": 0.0}
    spinning_until = {"wall": 0.3}

    def sleep(seconds):
        busy = min(clock["wall"] + seconds, spinning_until["wall"]) - clock["wall"]
        clock["others"] += max(0.0, busy)  # one thread spinning on the other core
        clock["wall"] += seconds

    monkeypatch.setattr(load.time, "sleep", sleep)
    monkeypatch.setattr(load.time, "perf_counter", lambda: clock["wall"])
    monkeypatch.setattr(load, "_other_threads_seconds", lambda: clock["others"])
    assert load.settle() is True
    # the first window wholly after 0.3 s ends at 0.35 (the window 0.25-0.30 was busy)
    assert clock["wall"] == pytest.approx(0.35)
    clock.update(wall=0.0, others=0.0)
    spinning_until["wall"] = 1e9
    assert load.settle(max_seconds=1.0) is False
    assert clock["wall"] == pytest.approx(1.0)
    clock.update(wall=0.0, others=0.0)
    spinning_until["wall"] = 0.0
    assert load.settle() is True
    assert clock["wall"] == pytest.approx(load.WINDOW)  # quiet from the start: one window


def test_settle_sees_a_real_spinning_thread():
    """The clocks settle() reads are this process's own (process less calling thread): while
    another thread spins it never finds a quiet window; once that thread has ended, it does."""
    import threading

    from fastmlp.bench import load
    started, stop = threading.Event(), threading.Event()

    def spin():
        started.set()
        while not stop.is_set():
            pass

    thread = threading.Thread(target=spin)
    thread.start()
    started.wait()
    try:
        assert load.settle(max_seconds=0.3) is False
    finally:
        stop.set()
        thread.join()
    assert load.settle(max_seconds=5.0) is True


def test_a_figure_whose_epochs_spread_is_marked_unsteady():
    from fastmlp.bench import report
    steady = {"workload": "M1", "batch": 32, "competitor": "fastmlp", "samples_per_s": 200e3,
              "samples_per_s_min_median_max": [198e3, 200e3, 203e3], "background_load": 0.0}
    shaky = dict(steady, competitor="numpy", samples_per_s=100e3,
                 samples_per_s_min_median_max=[80e3, 100e3, 101e3])
    assert not report.unsteady(steady) and report.unsteady(shaky)
    lines = report._training_table({"training": [steady, shaky], "ceiling": []})
    row = next(line for line in lines if line.startswith("M1"))
    assert "100.0k~" in row and "200.0k~" not in row and "200.0k" in row
    assert any(line.startswith("~ unsteady") for line in lines)
    lines = report._training_table({"training": [steady], "ceiling": []})
    assert not any("~" in line for line in lines)


def test_core_pair_reads_whether_two_threads_ran_side_by_side():
    """Two threads of work that needs no core (a sleep, the GIL released) run side by side
    whatever the machine: ×2; work that holds the GIL (a Python loop) runs one at a time: ×1.
    Both tasks last a span of time, not of CPU work, so a core that changes speed between the
    one-thread and the two-thread phases (a VM's does) cannot move the ratio: the sleep a span
    of the clock, the loop a span of its own thread's CPU time (the clock would let a thread
    that the OS or the other thread's GIL held off come back past its loop's end and count
    that call at once: up to ×2.1 with other processes busy on both cores). On a quiet
    machine the loop reads ×1.00; with other processes busy, a phase of 0.1 s can still catch
    more of a core than the other (×0.85-1.54 seen), so the loop's ratio is the least of three
    probes. The default task (fastmlp's GEMM) gives a ratio where this CPU has that GEMM."""
    import time

    from fastmlp._kernels.small_gemm import small_gemm_level
    from fastmlp.bench import load

    def python_loop_for_a_millisecond():
        end = time.thread_time() + 0.001
        while time.thread_time() < end:
            pass

    assert load.core_pair(lambda: time.sleep(0.002), seconds=0.1) > 1.7
    assert min(load.core_pair(python_loop_for_a_millisecond, seconds=0.1) for _ in range(3)) < 1.4
    probe = load.core_pair()
    assert (probe is None) == (small_gemm_level() == 0)
    assert probe is None or 0 < probe < 4  # a VM core changing speed between phases moves it


def test_two_callers_are_measured_again_while_the_machine_gives_them_one_core(monkeypatch):
    from fastmlp.bench import measure
    probes = iter([1.0, 1.9,        # repeat 1: the probe before it read one core: again
                   1.9, 1.9,        # repeat 1, attempt 2: kept
                   1.9, 1.7,        # repeat 2: kept, lowest 1.7
                   1.9, 1.2] + [1.9, 1.0] * 3)  # repeat 3: never good: kept after 4 attempts
    rates = iter(range(1, 100))
    monkeypatch.setattr(measure, "core_pair", lambda: next(probes))
    monkeypatch.setattr(measure, "settle", lambda: True)
    monkeypatch.setattr(measure, "requests_per_s", lambda fn, x, callers, seconds: float(next(rates)))
    monkeypatch.setattr(measure.time, "sleep", lambda s: None)
    kept, lowest, retries = measure.concurrent_rates(None, None, 2, 0.1)
    assert kept == [2.0, 3.0, 7.0] and retries == 1 + 3 and lowest == 1.0
    # one caller: no probe, nothing taken again
    kept, lowest, retries = measure.concurrent_rates(None, None, 1, 0.1)
    assert kept == [8.0, 9.0, 10.0] and lowest is None and retries == 0


def test_a_concurrent_figure_taken_on_one_core_is_marked():
    from fastmlp.bench import report

    def entry(callers, rate, pair):
        return {"workload": "M2", "competitor": "fastmlp", "batch": 1, "callers": callers,
                "samples_per_s_min_median_max": [rate, rate, rate], "background_load": 0.0,
                "core_pair": pair}

    lines = report._concurrent_table({"concurrent": [entry(1, 60e3, None), entry(2, 61e3, 1.02)]})
    row = next(line for line in lines if line.startswith("M2"))
    assert "61.0k*" in row and "×1.02" in row
    assert any(line.startswith("* measured") for line in lines)
    lines = report._concurrent_table({"concurrent": [entry(1, 60e3, None), entry(2, 118e3, 1.85)]})
    assert not any("*" in line or "!" in line for line in lines)
    assert not any("lone caller" in line for line in lines)  # a 1-thread run: none splits
    lines = report._concurrent_table({"threads": 2,
                                      "concurrent": [entry(1, 100e3, None), entry(2, 118e3, 1.85)]})
    assert any(line.startswith("fastmlp's lone caller shares its call") for line in lines)
    # a figure taken while other processes were busy: '!' there and in the training table
    busy = dict(entry(2, 118e3, 1.85), background_load=2 * report.BUSY)
    lines = report._concurrent_table({"concurrent": [entry(1, 60e3, None), busy]})
    assert "118.0k!" in next(line for line in lines if line.startswith("M2"))
    assert report.BUSY_LEGEND in lines
    fit = {"workload": "M1", "batch": 32, "competitor": "fastmlp", "samples_per_s": 200e3,
           "samples_per_s_min_median_max": [199e3, 200e3, 201e3], "background_load": 2 * report.BUSY}
    lines = report._training_table({"training": [fit], "ceiling": []})
    assert "200.0k!" in next(line for line in lines if line.startswith("M1"))
    assert report.BUSY_LEGEND in lines



def test_inference_ratios_are_paired_round_by_round():
    from fastmlp.bench import report
    # a slow phase in rounds 1-2 slows both engines: paired, fastmlp reads 2x throughout,
    # where its pooled median against theirs would not be a ratio of the same moments
    assert report.round_ratios([1.0, 3.0, 3.0, 1.0], [2.0, 6.0, 6.0, 2.0]) == (0.5, 0.5, 0.5)
    median, low, high = report.round_ratios([1.0, 2.0, 3.0, 4.0, 5.0], [1.0] * 5)
    assert (low, median, high) == (2.0, 3.0, 4.0)
    assert report.round_ratios([3.0], [2.0]) == (1.5, 1.5, 1.5)
    assert report.round_ratios([], []) is None

    def entries(kind, engine, rounds, mode="call"):
        return {"workload": "M1", "competitor": engine, "mode": mode, "round_median_us": rounds}

    run = {"latency": [entries("l", "fastmlp", [2.0, 4.0, 2.0]),
                       entries("l", "fastmlp", [9.0, 9.0, 9.0], mode="predict"),
                       entries("l", "onnxruntime", [8.0, 16.0, 8.0])],
           "throughput": [entries("t", "fastmlp", [100.0, 200.0, 100.0]),
                          entries("t", "fastmlp", [900.0] * 3, mode="predict"),
                          entries("t", "onnxruntime", [150.0, 300.0, 150.0])]}
    lines = report._paired_table(run)
    # fastmlp's first mode against theirs: a quarter of the µs, 1.5x the rate
    assert len(lines) == 2 and lines[1].split()[:2] == ["M1", "onnxruntime"]
    assert "0.25x [0.25-0.25]" in lines[1] and "1.50x [1.50-1.50]" in lines[1]
    # results written before the rounds were kept: no paired table
    assert report._paired_table({"latency": [{"workload": "M1", "competitor": "x", "mode": "m"}],
                                 "throughput": []}) == []

# /proc/cpuinfo's first processor block on this project's two kinds of machine (abridged)
_EMERALD_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 207
model name\t: Intel(R) Xeon(R) Processor
stepping\t: 2
flags\t\t: fpu sse2 avx fma avx2 avx512f avx512bw avx512_fp16 amx_tile

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
"""
_ZEN2 = """processor : 0
vendor_id : AuthenticAMD
cpu family : 23
model : 49
model name : AMD EPYC 7B12
stepping : 0
flags : fpu sse2 avx fma avx2
"""


@pytest.mark.parametrize("text, expected", [
    (_EMERALD_RAPIDS, {"vendor": "GenuineIntel", "family": 6, "model": 207, "stepping": 2,
                       "microarchitecture": "Emerald Rapids", "isa": ["avx2", "fma", "avx512f"]}),
    (_ZEN2, {"vendor": "AuthenticAMD", "family": 23, "model": 49, "stepping": 0,
             "microarchitecture": "Zen, Zen+ or Zen 2", "isa": ["avx2", "fma"]}),
    (_ZEN2.replace("cpu family : 23", "cpu family : 26"),
     {"vendor": "AuthenticAMD", "family": 26, "model": 49, "stepping": 0,
      "microarchitecture": "Zen 5", "isa": ["avx2", "fma"]}),
    (_ZEN2.replace("cpu family : 23", "cpu family : 25").replace("model : 49", "model : 17")
     .replace("avx2", "avx2 avx512f"),
     {"vendor": "AuthenticAMD", "family": 25, "model": 17, "stepping": 0,
      "microarchitecture": "Zen 4", "isa": ["avx2", "fma", "avx512f"]}),
    (_ZEN2.replace("cpu family : 23", "cpu family : 25").replace("model : 49", "model : 33"),
     {"vendor": "AuthenticAMD", "family": 25, "model": 33, "stepping": 0,
      "microarchitecture": "Zen 3 or Zen 4", "isa": ["avx2", "fma"]}),
    (_EMERALD_RAPIDS.replace("207", "999"),
     {"vendor": "GenuineIntel", "family": 6, "model": 999, "stepping": 2,
      "microarchitecture": None, "isa": ["avx2", "fma", "avx512f"]}),
    ("", {}),
])
def test_cpu_identity_names_the_core(text, expected):
    """The first processor only; the core's name by family and model where listed, else by family,
    None where unknown; only the ISA flags fastmlp's kernels choose by."""
    from fastmlp.bench.environment import cpu_identity, cpu_label
    identity = cpu_identity(text)
    assert identity == expected
    label = cpu_label(identity)
    if expected:
        assert label.startswith(f"{expected['vendor']} family {expected['family']} model {expected['model']}")
        assert (f"({expected['microarchitecture']})" in label) == (expected["microarchitecture"] is not None)
        assert label.endswith(" ".join(expected["isa"]))
    else:
        assert label == ""
