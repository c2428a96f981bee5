"""Before/after: fit and batch-1024 predict throughput of two built fastmlp trees, measured in
alternating worker processes (one tree per process, the same data and seed), so that a change
is judged against the machine's drift in the same run rather than against an older figure.

    FASTMLP_DATA=../shared/data python bench/ab_trees.py BEFORE_TREE AFTER_TREE [--rounds 2]
        [--threads 1] [--epochs 1] [--cases M1:32,M1:128,M2:32,M2:128]

Each tree is a source checkout with its kernels built in place (`python setup.py build_ext
--inplace`). Training: full 60,000-sample epochs of Fashion-MNIST (synthetic data of the same
shape without FASTMLP_DATA) with Adam, after a warm-up; predict: `predict_on_batch` of 1,024
rows. With --threads 1, BLAS gets one thread too (OPENBLAS_NUM_THREADS=1), as the benchmark's
one-thread worker does. Prints each round's figures and the median ratio after/before.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

WORKER = r"""
import json, sys, time
import numpy as np
import fastmlp
from fastmlp.bench import competitors, workloads
threads, epochs, cases = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
fastmlp.config.set_num_threads(threads)
x, y, _ = workloads.load_data(60000)
out = {}
for case in cases:
    name, batch = case.split(":")
    engine = competitors.Fastmlp(threads)
    engine.build(workloads.WORKLOADS[name])
    engine.train_epoch(x[:3000], y[:3000], int(batch))
    start = time.perf_counter()
    for _ in range(epochs):
        engine.train_epoch(x, y, int(batch))
    out[f"fit {case}"] = epochs * len(x) / (time.perf_counter() - start)
    if f"predict b1024 {name}" in out:
        continue  # once a workload
    rows = x[:1024]
    engine.model.predict_on_batch(rows)
    times = []
    for _ in range(30):
        start = time.perf_counter()
        engine.model.predict_on_batch(rows)
        times.append(time.perf_counter() - start)
    out[f"predict b1024 {name}"] = len(rows) / sorted(times)[len(times) // 2]
print(json.dumps(out))
"""


def run(tree: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
    if args.threads == 1:
        env["OPENBLAS_NUM_THREADS"] = "1"
    proc = subprocess.run([sys.executable, "-c", WORKER, str(args.threads), str(args.epochs),
                           args.cases], env=env, capture_output=True, text=True,
                          cwd=os.path.abspath(tree))
    if proc.returncode:
        sys.exit(f"{tree}: the worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--cases", default="M1:32,M1:128,M2:32,M2:128")
    args = parser.parse_args()
    figures: dict = {"before": {}, "after": {}}
    for round_ in range(args.rounds):
        for label, tree in (("before", args.before), ("after", args.after)):
            result = run(tree, args)
            print(f"round {round_ + 1} {label:6s} "
                  + "  ".join(f"{key} {value / 1e3:.1f}k" for key, value in result.items()),
                  flush=True)
            for key, value in result.items():
                figures[label].setdefault(key, []).append(value)
    for key, before in figures["before"].items():
        after = figures["after"][key]
        print(f"{key:22s} before {statistics.median(before) / 1e3:8.1f}k  after "
              f"{statistics.median(after) / 1e3:8.1f}k  ×{statistics.median(after) / statistics.median(before):.3f}")


if __name__ == "__main__":
    main()
