"""What each of fastmlp's speed features buys, measured by switching it off in turn, paired in
one process (issue 9's parts: 1 the flush of denormals, 2 the AVX-512 code, 3 the training
team, 4 fastmlp's own GEMM and packed weights, 5 the next batch prefetched, 6 the one-call
predict path; and the skipping of zero inputs).

    FASTMLP_DATA=../shared/data python bench/ablation.py [--rounds 3]
        [--cases M1:32,M1:128,M2:32,M2:128] [--threads 2] [--json FILE]

Fit: one model a case, full epochs of the 60,000 Fashion-MNIST training images (synthetic
data of the same shape without FASTMLP_DATA) with Adam; in each round every variant runs one
epoch with its feature off (after 160 untimed steps in that state), in an order rotated from
round to round, so that the machine's drift falls on all of them alike; a probe of what the
machine gives two threads (load.core_pair) ends each round. Predict:
one model, `predict_on_batch` of 1,024 rows and `model(x)` of one row, the variants
alternating in each round. A feature's figure is the all-on variant's speed over the variant
without it, round by round (how much slower fastmlp runs without the feature): median and
[quartiles] over the rounds. Everything runs on one thread (BLAS too, OPENBLAS_NUM_THREADS=1)
except the rows that say how many threads. The switches are the kernels' measurement
switches (network.set_flush_denormals, set_prefetch_batches, set_gemm_levels,
set_keeps_inputs, set_pack_min_rows, the update rule's split_level); the elementwise loops'
ISA clone is the loader's choice and cannot be switched in a running process.
"""
import argparse
import json
import os
import statistics
import sys
import time
from typing import Any, Callable

if __name__ == "__main__":
    # as the benchmark's one-thread worker: BLAS on one thread, and the variables some old
    # OpenBLAS builds need unset for this process only (before numpy loads BLAS; not when a
    # test imports this module)
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    for _name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        os.environ.pop(_name, None)

import numpy as np

import fastmlp
from fastmlp._kernels import network as kernels
from fastmlp._kernels.optim import split_sqrt_level
from fastmlp._kernels.small_gemm import LEVEL_NAMES, small_gemm_level
from fastmlp.bench import competitors, environment, load, measure, report, workloads

Switch = Callable[[Any, bool], None]  # (model, off): off=True switches the feature off


def _nothing(model: Any, off: bool) -> None:
    """The switch of the variants that change no feature (all on, more threads)."""


def _flush(model: Any, off: bool) -> None:
    kernels.set_flush_denormals(not off)


def _prefetch(model: Any, off: bool) -> None:
    kernels.set_prefetch_batches(not off)


def _keep_inputs(model: Any, off: bool) -> None:
    model.engine.network.set_keeps_inputs(not off)


def _level(which: str, level: int) -> Switch:
    """Switches the predict or the train GEMM to `level` (1 AVX2, 0 BLAS), and back to the
    levels it found."""
    def switch(model: Any, off: bool) -> None:
        net = model.engine.network
        if off:
            model._ablation_levels = predict, train = net.gemm_levels
            net.set_gemm_levels(level if which == "predict" else predict,
                                level if which == "train" else train)
        else:
            net.set_gemm_levels(*model._ablation_levels)
    return switch


def _train_level(level: int) -> Switch:
    return _level("train", level)


def _predict_level(level: int) -> Switch:
    return _level("predict", level)


def _split_roots(model: Any, off: bool) -> None:
    rule = model._training_rule("the ablation")
    if off:
        model._ablation_split = rule.split_level
        rule.split_level = 0
    else:
        rule.split_level = getattr(model, "_ablation_split", rule.split_level)


def _packs(model: Any, off: bool) -> None:
    model.engine.network.set_pack_min_rows(0 if off else kernels.PACK_MIN_ROWS)


def fit_variants(threads: int) -> dict[str, tuple[Switch, int]]:
    """name -> (switch, threads) of each fit variant this CPU has; 'all on' first."""
    top = small_gemm_level()
    variants: dict[str, tuple[Switch, int]] = {"all on": (_nothing, 1)}
    variants["1 no flush to zero"] = (_flush, 1)
    if top == 2:
        variants["2 GEMM on AVX2, not AVX-512"] = (_train_level(1), 1)
    if split_sqrt_level() > 0:
        variants["2 Adam's roots all by the divider"] = (_split_roots, 1)
    if threads > 1:
        variants[f"3 all on, {threads} threads"] = (_nothing, threads)
    if top > 0:
        variants["4 products on BLAS, not own GEMM"] = (_train_level(0), 1)
        variants["5 no prefetch of the next batch"] = (_prefetch, 1)
        variants["  zero inputs not skipped"] = (_keep_inputs, 1)
    return variants


def _build(workload: workloads.Workload, seed: int) -> Any:
    """The benchmark's fastmlp model of `workload` (competitors.Fastmlp.build), compiled."""
    engine = competitors.Fastmlp(1)
    engine.build(workload, seed)
    return engine.model


def _epoch(model: Any, switch: Switch, threads: int, x: np.ndarray, y: np.ndarray,
           batch: int, settle: int = 0) -> float:
    """Seconds of one epoch over x with the feature switched off (and on again after), after
    `settle` untimed steps in the same state."""
    fastmlp.config.set_num_threads(threads)
    switch(model, True)
    try:
        if settle:
            model.fit(x[:settle * batch], y[:settle * batch], batch_size=batch, epochs=1, verbose=0)
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        return time.perf_counter() - start
    finally:
        switch(model, False)
        fastmlp.config.set_num_threads(1)


# Untimed steps before each timed epoch, in the variant's state: without the flush, Adam's
# first moments decay through the subnormal range for ~150 steps (0.9 a step) before they
# reach 0, so an epoch after ones with the flush would start with fewer subnormals than a
# run without it has all along.
SETTLE_STEPS = 160


def measure_fit(case: str, rounds: int, threads: int, x: np.ndarray,
                y: np.ndarray) -> dict[str, list[float]]:
    """Seconds of each variant's epochs, round by round, all on one model: a copy per variant
    would compare the copies as well as the features (two runs so disagreed by up to ×0.17). Under "probe": each
    round's reading of what the machine gives two threads (load.core_pair), which sets the
    threads row's figure more than fastmlp does."""
    name, batch_text = case.split(":")
    batch = int(batch_text)
    variants = fit_variants(threads)
    model = _build(workloads.WORKLOADS[name], seed=0)
    for switch, n in variants.values():
        _epoch(model, switch, n, x[:3000], y[:3000], batch)  # warm-up: builds, packs, threads
    seconds: dict[str, list[float]] = {label: [] for label in variants}
    seconds["probe"] = []
    labels = list(variants)
    for r in range(rounds):
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            switch, n = variants[label]
            seconds[label].append(_epoch(model, switch, n, x, y, batch, SETTLE_STEPS))
        seconds["probe"].append(load.core_pair() or 0.0)
        print(f"  {case} round {r + 1}: " + ", ".join(
            f"{label.strip()} {len(x) / seconds[label][-1] / 1e3:.1f}k/s" for label in labels)
            + f"; two threads' probe ×{seconds['probe'][-1]:.2f}", flush=True)
    return seconds


def _median_call_seconds(fn: Callable[[np.ndarray], object], x: np.ndarray, calls: int,
                         warmup: int) -> float:
    """Median seconds of `calls` calls fn(x) after `warmup` untimed ones (the benchmark's
    measure._per_call)."""
    return statistics.median(measure._per_call(fn, x, 0.0, calls, warmup, calls)) / 1e6


def measure_predict(name: str, rounds: int, threads: int,
                    x: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """Median seconds of a batch-1024 call and of a one-row call, per variant and round."""
    model = _build(workloads.WORKLOADS[name], seed=0)
    rows, one = np.ascontiguousarray(x[:1024]), np.ascontiguousarray(x[:1])
    top = small_gemm_level()
    variants: dict[str, tuple[Switch, int]] = {"all on": (_nothing, 1)}
    variants["1 no flush to zero"] = (_flush, 1)
    if top == 2:
        variants["2 GEMM on AVX2, not AVX-512"] = (_predict_level(1), 1)
    if threads > 1:
        variants[f"3 all on, {threads} threads"] = (_nothing, threads)
    if top > 0:
        variants["4 products on BLAS, not own GEMM"] = (_predict_level(0), 1)
        variants["4 weights not packed"] = (_packs, 1)
    fast = {"batch 1024": (model.predict_on_batch, rows, 60), "one row": (model, one, 3000)}
    # part 6: the same one-row call through the converting, checking path
    converted = "6 one row, converted path"
    seconds: dict[str, dict[str, list[float]]] = {"batch 1024": {k: [] for k in variants},
                                                  "one row": {k: [] for k in variants}}
    seconds["one row"][converted] = []
    labels = list(variants)
    for r in range(rounds):
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            switch, n = variants[label]
            fastmlp.config.set_num_threads(n)
            switch(model, True)
            try:
                for what, (fn, rows_in, calls) in fast.items():
                    # 10 untimed calls first: packs are made after a few calls
                    seconds[what][label].append(_median_call_seconds(fn, rows_in, calls, 10))
            finally:
                switch(model, False)
                fastmlp.config.set_num_threads(1)
        seconds["one row"][converted].append(
            _median_call_seconds(model._predict_converted, one, 3000, 0))
        print(f"  {name} predict round {r + 1}: b1024 all on "
              f"{len(rows) / seconds['batch 1024']['all on'][-1] / 1e3:.0f}k rows/s, one row all on "
              f"{seconds['one row']['all on'][-1] * 1e6:.2f} µs", flush=True)
    return seconds


def _ratio(mine: list[float], theirs: list[float]) -> str:
    """mine / theirs round by round: median [quartiles]."""
    value = report.round_ratios(mine, theirs)
    return f"×{value[0]:.2f} [{value[1]:.2f}-{value[2]:.2f}]" if value else "—"


def table(title: str, columns: dict[str, dict[str, list[float]]]) -> str:
    """Markdown: a row per switched-off variant, a column per case."""
    labels = [label for label in dict.fromkeys(k for seconds in columns.values() for k in seconds)
              if label not in ("all on", "probe")]
    lines = [f"| {title} | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for label in labels:
        cells = []
        for seconds in columns.values():
            if label not in seconds:
                cells.append("—")
            elif "threads" in label:
                cells.append(_ratio(seconds["all on"], seconds[label]))  # 1 thread's time over N's
            else:
                cells.append(_ratio(seconds[label], seconds["all on"]))
        lines.append(f"| {label.strip()} | " + " | ".join(cells) + " |")
    if any("probe" in seconds for seconds in columns.values()):
        probes = [statistics.median(seconds["probe"]) if seconds.get("probe") else None
                  for seconds in columns.values()]
        lines.append("| (two threads' probe, median) | "
                     + " | ".join(f"×{p:.2f}" if p else "—" for p in probes) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default="M1:32,M1:128,M2:32,M2:128")
    parser.add_argument("--threads", type=int, default=2,
                        help="the thread count of the 'all on, N threads' rows (1: none)")
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--json", help="also write every round's seconds to this file")
    args = parser.parse_args()
    if args.rounds < 1 or args.threads < 1:
        sys.exit("--rounds and --threads must be >= 1")
    x, y, source = workloads.load_data(args.samples)
    described = environment.describe()
    print(f"fastmlp {fastmlp.__version__}; CPU: {environment.cpu_label(described['cpu_identity'])} "
          f"({described['cpu']}), {described['cores']} cores")
    print(f"elementwise clone: {described['simd_clone']}; own GEMM: "
          f"{LEVEL_NAMES[small_gemm_level()]}; {described['optimizer_sqrt']}")
    for blas in described["blas"]:
        print("BLAS:", ", ".join(f"{k}={v}" for k, v in blas.items() if k != "filepath"))
    print(f"data: {source}, {len(x)} samples; {args.rounds} rounds\n", flush=True)
    fit = {case: measure_fit(case, args.rounds, args.threads, x, y) for case in args.cases.split(",")}
    names = sorted({case.split(":")[0] for case in fit})
    predict = {name: measure_predict(name, args.rounds, args.threads, x) for name in names}
    print()
    print(table("fit: all on against", {case.replace(":", " b"): s for case, s in fit.items()}))
    print()
    print(table("predict: all on against", {f"{name} {what}": s[what]
                                             for name, s in predict.items() for what in s}))
    print("\nEach cell: how many times faster fastmlp runs with the feature than without it "
          "(a threads row: N threads against 1), median [quartiles] over the rounds.")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"environment": described, "data": source, "rounds": args.rounds,
                       "fit_seconds": fit, "predict_seconds": predict}, out, indent=2)


if __name__ == "__main__":
    main()
