"""The measurements of one worker process (one thread count): training throughput, the
GEMM-only ceiling, one-sample latency, batch throughput and sgemm speed."""
import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from fastmlp.bench import competitors as _competitors
from fastmlp.bench.load import PAIR_MIN, Meter, core_pair, settle
from fastmlp.bench.turns import Alone
from fastmlp.bench.workloads import WORKLOADS, load_data


def progress(message: str) -> None:
    print(f"[fastmlp-bench] {message}", file=sys.stderr, flush=True)


def sgemm_gflops(size: int = 2048, repeats: int = 3) -> float:
    """GFLOP/s of scipy's sgemm (the BLAS fastmlp calls) on size³."""
    from scipy.linalg.blas import sgemm
    rng = np.random.default_rng(0)
    a = np.asfortranarray(rng.random((size, size), dtype=np.float32))
    b = np.asfortranarray(rng.random((size, size), dtype=np.float32))
    sgemm(1.0, a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sgemm(1.0, a, b)
        times.append(time.perf_counter() - start)
    return 2 * size ** 3 / min(times) / 1e9


def _per_call(fn: Callable[[np.ndarray], object], x: np.ndarray, budget_s: float, max_calls: int,
              warmup: int = 20, min_calls: int = 30) -> list[float]:
    """µs of each of up to max_calls calls fn(x) after `warmup` untimed ones: at least
    min_calls, then until budget_s has passed."""
    for _ in range(warmup):
        fn(x)
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    clock = time.perf_counter_ns
    while len(times) < max_calls and (len(times) < min_calls or time.perf_counter() < deadline):
        start = clock()
        fn(x)
        times.append((clock() - start) / 1e3)
    return times


def _rates(samples: int, seconds: list[float]) -> list[float]:
    """[min, median, max] samples/s of `samples` samples done once per entry of `seconds`."""
    return [samples / max(seconds), samples / statistics.median(seconds), samples / min(seconds)]


# The engines whose inference calls release the GIL, measured from concurrent request threads.
CONCURRENT = ("fastmlp", "onnxruntime")


def requests_per_s(fn: Callable[[np.ndarray], object], x: np.ndarray, callers: int, seconds: float) -> float:
    """Rows per second that `callers` threads calling fn(x) in a loop get together."""
    import threading
    counts = [0] * callers
    start = threading.Barrier(callers + 1)

    def caller(index: int) -> None:
        start.wait()
        calls = 0
        while time.perf_counter() < deadline:
            for _ in range(8):
                fn(x)
            calls += 8
        counts[index] = calls

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for worker in workers:
        worker.start()
    deadline = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for worker in workers:
        worker.join()
    return sum(counts) * len(x) / (time.perf_counter() - began)


def concurrent_rates(fn: Callable[[np.ndarray], object], x: np.ndarray, callers: int,
                     seconds: float, repeats: int = 3,
                     attempts: int = 4) -> tuple[list[float], Optional[float], int]:
    """`repeats` measurements of requests_per_s. With two or more callers each is bracketed by
    core_pair() probes and taken again (up to `attempts` times, a pause between) while a probe
    reads under PAIR_MIN: a figure of request threads scaling means nothing while the machine
    gives them one core. Returns (rates, the lowest probe beside a kept rate or None without
    probes, how many were taken again)."""
    rates: list[float] = []
    lowest: Optional[float] = None
    retries = 0

    def probe_machine() -> Optional[float]:
        settle()  # an engine's pool (ONNX Runtime's) spins on after its calls: not the machine
        return core_pair()

    for _ in range(repeats):
        for attempt in range(attempts):
            before = probe_machine() if callers > 1 else None
            rate = requests_per_s(fn, x, callers, seconds)
            after = probe_machine() if callers > 1 and before is not None else None
            probe = None if before is None or after is None else min(before, after)
            if probe is None or probe >= PAIR_MIN or attempt == attempts - 1:
                break
            retries += 1
            time.sleep(0.2)
        rates.append(rate)
        if probe is not None:
            lowest = probe if lowest is None else min(lowest, probe)
    return rates, lowest, retries


def run(threads: int, workloads: list[str], batches: list[int], epochs: int, samples: int,
        only: list[str], latency_calls: int, budget_s: float,
        inference_rounds: Optional[int] = None, turns: Any = None) -> dict[str, Any]:
    """All measurements at `threads` threads, as a JSON-ready dict. turns (or None: alone): the
    rotation this worker takes its measurements in (fastmlp/bench/turns.py); every worker of a
    rotation makes the same sequence of turns, one engine each."""
    from fastmlp.bench.environment import describe
    turns = turns or Alone()
    result: dict[str, Any] = {"threads": threads, "training": [], "ceiling": [], "latency": [],
                    "throughput": [], "concurrent": [], "missing": {}, "versions": {}}
    x, y, source = load_data(samples)
    # fastmlp's one-row calls skip zero inputs: the one-sample row's share of them matters
    result["data"] = {"source": source, "samples": len(x),
                      "one_sample_zero_fraction": float(np.mean(x[0] == 0))}
    engines = {}
    for cls in _competitors.ALL:
        if only and cls.name not in only:
            continue
        why = cls.missing()
        if why:
            result["missing"][cls.name] = why
            progress(f"{cls.name}: {why}")
            continue
        engines[cls.name] = cls(threads)
        result["versions"][cls.name] = engines[cls.name].version()
    turns.ready()
    with turns.turn():
        progress(f"{threads} thread(s): data {source}, {len(x)} samples; sgemm 2048³")
        result["sgemm_gflops_2048"] = sgemm_gflops()
        result["environment"] = describe()

    for wname in workloads:
        for batch in batches:
            for name, engine in engines.items():
                if engine.trains:
                    progress(f"{threads} thread(s): training {wname} batch {batch}: {name}")
                _training(result, engine, wname, batch, x, y, epochs, turns)

        _inference(result, engines, wname, x, latency_calls, budget_s, threads,
                   inference_rounds or INFERENCE_ROUNDS, turns)
        for name, engine in engines.items():
            # the first inference mode (fastmlp's predict_on_batch, ORT's run) from 1 and 2
            # request threads sharing one model; three repeats each, with the load beside them
            fn = next(iter(engine.inference_modes().values()))
            for batch in (1, 64):
                rows = np.ascontiguousarray(x[:batch])
                for callers in (1, 2):
                    with turns.turn():
                        if name not in CONCURRENT:
                            continue
                        settle()
                        with Meter() as meter:
                            rates, pair, retries = concurrent_rates(fn, rows, callers, budget_s / 8)
                    result["concurrent"].append({
                        "workload": wname, "competitor": name, "batch": batch, "callers": callers,
                        "samples_per_s_min_median_max": [min(rates), statistics.median(rates), max(rates)],
                        "background_load": meter.load, "core_pair": pair, "retries": retries})
    return result


def _training(result: dict[str, Any], engine: Any, wname: str, batch: int, x: np.ndarray,
              y: np.ndarray, epochs: int, turns: Any = None) -> None:
    """An engine's training throughput: `epochs` epochs over x, after a warm-up on its first
    rows. fastmlp's GEMM-only ceiling is taken in the same rounds (a ceiling run, then an
    epoch; max(3, epochs) ceiling runs): the VM's speed moves by up to 2x within minutes, and
    a ceiling measured before all the epochs was read in another phase than they were. In a
    worker of two threads or more, each of fastmlp's rounds also takes its ceiling with the
    team's shares of the products run at once (the ceiling proper runs one share alone, as if
    the others cost nothing), an epoch on one thread and as many one-thread epochs side by
    side as the worker has threads (for the ratio of its threads against one thread, and what
    the machine gave them, in the same minutes). In
    turns: the build and warm-up one turn, each round one (max(3, epochs) of them, whatever
    the engine: an engine that does not train, or has no more rounds, passes its turns)."""
    turns = turns or Alone()
    workload = WORKLOADS[wname]
    steps = math.ceil(len(x) / batch)
    ceiling = isinstance(engine, _competitors.Fastmlp)
    # fastmlp in a worker of two threads or more: after the ceiling, the ceiling at once; after
    # each epoch, one on one thread, then as many one-thread epochs at once as the worker has
    # threads (one_thread_epochs): the ratio of its threads against one thread, and the most
    # they could give, in the same round
    threads = getattr(engine, "threads", 1) if ceiling else 1
    with turns.turn():
        if engine.trains:
            engine.build(workload)
            warm = min(len(x), 4 * 1024)
            engine.train_epoch(x[:warm], y[:warm], batch)  # allocates the scratch once
            if threads > 1:
                engine.one_thread_epochs(x[:warm], y[:warm], batch, threads)  # and its copies'
    times: list[float] = []
    ceiling_times: list[float] = []
    at_once_times: list[float] = []
    one_times: list[float] = []
    side_times: list[float] = []
    meter = Meter()
    for round_ in range(max(3, epochs)):
        with turns.turn():
            if not engine.trains or (round_ >= epochs and not ceiling):
                continue
            settle()
            with meter:
                if ceiling:
                    start = time.perf_counter()
                    engine.gemm_ceiling(batch, steps)
                    ceiling_times.append(time.perf_counter() - start)
                    if threads > 1:
                        start = time.perf_counter()
                        engine.gemm_ceiling(batch, steps, at_once=True)
                        at_once_times.append(time.perf_counter() - start)
                if round_ < epochs:
                    start = time.perf_counter()
                    engine.train_epoch(x, y, batch)
                    times.append(time.perf_counter() - start)
                    if threads > 1:
                        one_times.append(engine.one_thread_epochs(x, y, batch, 1))
                        side_times.append(engine.one_thread_epochs(x, y, batch, threads))
    if not engine.trains:
        return
    if ceiling:
        secs = statistics.median(ceiling_times)
        result["ceiling"].append({"workload": wname, "batch": batch, "epoch_seconds": ceiling_times,
                                  "samples_per_s": len(x) / secs,
                                  "samples_per_s_min_median_max": _rates(len(x), ceiling_times),
                                  "gflops": workload.flops_per_sample() * len(x) / secs / 1e9,
                                  "background_load": meter.load})
        if at_once_times:
            # round by round beside epoch_seconds: the team's shares run at the same time
            result["ceiling"][-1].update({
                "at_once_epoch_seconds": at_once_times,
                "at_once_samples_per_s": len(x) / statistics.median(at_once_times)})
    secs = statistics.median(times)
    result["training"].append({
        "workload": wname, "batch": batch, "competitor": engine.name, "epoch_seconds": times,
        "samples_per_s": len(x) / secs,
        "samples_per_s_min_median_max": _rates(len(x), times),
        # the step's FLOPs against the machine's measured sgemm peak
        "percent_of_sgemm_peak": 100 * workload.flops_per_sample() * len(x) / secs / 1e9
                                 / result["sgemm_gflops_2048"],
        "background_load": meter.load})
    if one_times:
        # round by round beside epoch_seconds: an epoch on one thread, and `threads` of them
        # side by side (each entry the seconds until all had ended)
        result["training"][-1].update({"one_thread_epoch_seconds": one_times,
                                       "side_by_side_epoch_seconds": side_times,
                                       "side_by_side_epochs": threads})


# The inference figures are taken in this many rounds, every engine's calls in turn in each.
INFERENCE_ROUNDS = 10


def _inference(result: dict[str, Any], engines: dict[str, Any], wname: str, x: np.ndarray,
               latency_calls: int, budget_s: float, threads: int,
               rounds: int = INFERENCE_ROUNDS, turns: Any = None) -> None:
    """One-sample latency and batch-1024 throughput of every engine's inference modes, in
    INFERENCE_ROUNDS rounds that take each mode's calls in turn: the VM's speed drifts over a
    run (the second core's by 30%), and a ratio of two figures measured a minute apart, one
    engine after the other, carried that drift; in rounds, every figure samples the same
    stretch of time. Each figure pools its rounds' calls; the background load is the rounds'.
    In turns: the builds one turn, then each round two, its one-sample calls and its batch
    calls, so that the workers' engines' batch calls follow each other within a second or so
    (with one turn a round, the turns of five engines put seconds between them, and the VM's
    phases of seconds came in between)."""
    turns = turns or Alone()
    one = np.ascontiguousarray(x[:1])
    big = np.ascontiguousarray(x[:1024])
    cases = []
    with turns.turn():
        for name, engine in engines.items():
            progress(f"{threads} thread(s): inference {wname}: {name}")
            engine.build(WORKLOADS[wname])
            for mode, fn in engine.inference_modes().items():
                cases.append((name, mode, fn, mode == "predict" and name == "keras"))
    # every call's µs, a list a round (so the report can pair engines round by round)
    one_calls: dict[tuple[str, str], list[list[float]]] = {(n, m): [] for n, m, _, _ in cases}
    big_calls: dict[tuple[str, str], list[list[float]]] = {(n, m): [] for n, m, _, _ in cases}
    meter = Meter()
    least = max(1, 30 // rounds)  # calls a figure takes a round, whatever its budget
    for round_ in range(rounds):
        with turns.turn(), meter:
            for name, mode, fn, slow in cases:
                settle()
                # warmed up in the first round; a few untimed calls after a settle in the others
                one_calls[name, mode].append(_per_call(
                    fn, one, budget_s / (4 if slow else 1) / rounds,
                    (200 if slow else latency_calls) // rounds, warmup=3 if round_ else 20,
                    min_calls=least))
        with turns.turn(), meter:
            for name, mode, fn, _ in cases:
                settle()
                big_calls[name, mode].append(_per_call(fn, big, budget_s / 2 / rounds,
                                                       max(1, 200 // rounds), warmup=3,
                                                       min_calls=least))
    for name, mode, _, _ in cases:
        calls = [t for block in one_calls[name, mode] for t in block]
        result["latency"].append({"workload": wname, "competitor": name, "mode": mode,
                                  "calls": len(calls), "rounds": rounds, "min_us": min(calls),
                                  "median_us": statistics.median(calls),
                                  "p99_us": float(np.percentile(calls, 99)), "max_us": max(calls),
                                  "round_median_us": [statistics.median(b)
                                                      for b in one_calls[name, mode]],
                                  "background_load": meter.load})
        batch_times = [t for block in big_calls[name, mode] for t in block]
        rates = _rates(1024, [t / 1e6 for t in batch_times])
        result["throughput"].append({"workload": wname, "competitor": name, "mode": mode,
                                     "batch": 1024, "calls": len(batch_times), "rounds": rounds,
                                     "samples_per_s": rates[1], "samples_per_s_min_median_max": rates,
                                     "round_median_us": [statistics.median(b)
                                                         for b in big_calls[name, mode]],
                                     "background_load": meter.load})
