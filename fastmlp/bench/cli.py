"""`fastmlp-bench`: runs one worker process per thread count (so each engine's thread pool is
set before it loads), then prints the tables and writes the JSON and the chart."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from fastmlp.bench import turns
from fastmlp.bench.environment import OPENBLAS_VARIABLES


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, received {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, received {text!r}")
    return values


def parse(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="fastmlp-bench", description=(
        "Benchmark fastmlp against NumPy and Keras (and PyTorch / ONNX Runtime when installed): "
        "training throughput on the seed models, one-sample latency, batch throughput, the "
        "GEMM-only ceiling, import time and size. Prints a table; writes JSON and a PNG chart."))
    p.add_argument("--quick", action="store_true", help="a smoke run that finishes within a minute")
    p.add_argument("--threads", type=_ints, default=None, help="thread counts to run, e.g. 1,2 (default: 1 and all cores)")
    p.add_argument("--batch", type=_ints, default=None, help="training batch sizes (default 32,128)")
    p.add_argument("--workloads", default="M1,M2", help="M1 (784-100-10) and/or M2 (784-300-200-100-10)")
    p.add_argument("--epochs", type=int, default=None, help="timed epochs per configuration (default 3; median)")
    p.add_argument("--samples", type=int, default=None, help="samples per epoch (default 60000)")
    p.add_argument("--only", default="", help="comma-separated engines to run (fastmlp,numpy,keras,pytorch,scikit-learn,onnxruntime)")
    p.add_argument("--out", default="bench-results", help="folder for results.json and results.png")
    p.add_argument("--keep-openblas-env", action="store_true",
                   help="do not clear OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for this run")
    p.add_argument("--no-footprint", action="store_true", help="skip import-time and size measurements")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--turns", default=None, help=argparse.SUPPRESS)
    p.add_argument("--turn-index", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in args.workloads.split(","):
        if name not in ("M1", "M2"):
            p.error(f"--workloads takes M1 and/or M2, received {name!r}")
    if args.epochs is not None and args.epochs < 1:
        p.error("--epochs must be at least 1")
    if args.samples is not None and not 1024 <= args.samples <= 60000:
        p.error("--samples must be between 1024 and 60000")
    return args


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    return {
        "threads": args.threads or ([1] if quick else sorted({1, os.cpu_count() or 1})),
        "batches": args.batch or ([128] if quick else [32, 128]),
        "epochs": args.epochs or (1 if quick else 3),
        "samples": args.samples or (6000 if quick else 60000),
        "workloads": args.workloads.split(","),
        "only": [n for n in args.only.split(",") if n],
        "latency_calls": 300 if quick else 5000,
        "budget_s": 0.3 if quick else 2.0,
        "inference_rounds": 1 if quick else None,  # None: measure.INFERENCE_ROUNDS
    }


def _run_worker(args: argparse.Namespace) -> int:
    from fastmlp.bench import measure
    from fastmlp.bench.load import settle_machine
    from fastmlp.bench.turns import Alone, Turns
    s = _settings(args)
    rotation = (Turns(Path(args.turns), args.turn_index, settle_machine) if args.turns
                else Alone())
    try:
        result = measure.run(args.worker, s["workloads"], s["batches"], s["epochs"], s["samples"],
                             s["only"], s["latency_calls"], s["budget_s"], s["inference_rounds"],
                             rotation)
    finally:
        rotation.finish()
    Path(args.worker_out).write_text(json.dumps(result))
    return 0


def run_together(commands: list[list[str]], env: dict[str, str], poll: float = 0.05) -> int:
    """Starts every command at once and waits for all; returns 0, or the first failure's exit
    code once it has stopped the others (a worker waiting for a failed one's turn would wait
    for ever)."""
    procs = [subprocess.Popen(cmd, env=env) for cmd in commands]
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed:
                return failed[0]
            if all(c == 0 for c in codes):
                return 0
            time.sleep(poll)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


_WORKER = "import sys; del sys.path[0]; from fastmlp.bench import main; sys.exit(main(sys.argv[1:]))"


def merge_workers(parts: list[dict[str, Any]], missing: dict[str, Any]) -> dict[str, Any]:
    """One thread count's run from its engines' workers: their measurements together, in the
    engines' order within each workload; the machine's figures (sgemm, data, environment) from
    the first worker, fastmlp's when it ran."""
    run = dict(parts[0])
    for key in ("training", "ceiling", "latency", "throughput", "concurrent"):
        merged = [item for part in parts for item in part.get(key, [])]
        run[key] = sorted(merged, key=lambda item: item["workload"])  # stable: engines keep order
    run["missing"] = {**missing, **{k: v for part in parts for k, v in part["missing"].items()}}
    run["versions"] = {k: v for part in parts for k, v in part["versions"].items()}
    return run


def main(argv: Optional[list[str]] = None) -> int:
    args = parse(argv)
    if args.worker is not None:
        return _run_worker(args)
    cleared = [v for v in OPENBLAS_VARIABLES if v in os.environ]
    env = dict(os.environ)
    if cleared and not args.keep_openblas_env:
        # These slow a current OpenBLAS by ~45%; they must be gone before numpy/scipy load, so
        # the workers start without them.
        for v in cleared:
            env.pop(v)
        print(f"[fastmlp-bench] cleared {', '.join(cleared)} for this run", file=sys.stderr)
    else:
        cleared = []
    s = _settings(args)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    passthrough = list(argv if argv is not None else sys.argv[1:])
    from fastmlp.bench.competitors import ALL
    wanted = [cls for cls in ALL if not s["only"] or cls.name in s["only"]]
    missing = {cls.name: cls.missing() for cls in wanted if cls.missing()}
    # each engine in a worker process of its own: no engine's idle thread pool (OpenMP's,
    # TensorFlow's, ONNX Runtime's spinning workers, another OpenBLAS) shares the cores with
    # the next engine's measurement
    engines: list[Optional[str]] = [cls.name for cls in wanted if cls.name not in missing] or [None]
    # ... all at once, taking their measurements in turns (fastmlp/bench/turns.py), so that
    # every engine's figure of a cell samples the same minutes
    together = len(engines) > 1 and turns.supported()
    runs = []
    for threads in s["threads"]:
        worker_env = dict(env, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                          MKL_NUM_THREADS=str(threads))
        with tempfile.TemporaryDirectory() as tmp:
            state = turns.create(Path(tmp), len(engines)) if together else None
            commands, targets = [], []
            for index, engine in enumerate(engines):
                only = [] if engine is None else ["--only", engine]
                targets.append(Path(tmp) / f"run{index}.json")
                # not `-m`: it puts the working directory first on sys.path, and from a source
                # tree that shadows the installed package (whose kernels are compiled)
                commands.append([sys.executable, "-c", _WORKER, *passthrough, *only, "--worker",
                                 str(threads), "--worker-out", str(targets[-1])]
                                + (["--turns", str(state), "--turn-index", str(index)]
                                   if state else []))
            if together:
                code = run_together(commands, worker_env)
            else:
                code = 0
                for cmd in commands:
                    code = code or subprocess.call(cmd, env=worker_env)
            if code != 0:
                print(f"[fastmlp-bench] a worker at {threads} thread(s) failed (exit {code})",
                      file=sys.stderr)
                return code
            runs.append(merge_workers([json.loads(t.read_text()) for t in targets], missing))
    results: dict[str, Any] = {"command": "fastmlp-bench " + " ".join(passthrough), "settings": s,
               "cleared_openblas_variables": cleared, "runs": runs, "footprint": {}}
    if not args.no_footprint:
        from fastmlp.bench import environment
        print("[fastmlp-bench] import time and installed size", file=sys.stderr, flush=True)
        only = s["only"]
        for module, dist in (("fastmlp", "fastmlp"), ("keras", "keras")):
            if only and module not in only:
                continue
            try:
                results["footprint"][module] = {
                    "import_seconds": environment.import_seconds(module, 1 if args.quick else 3),
                    "own_bytes": environment.installed_bytes(dist, False),
                    "with_dependencies_bytes": environment.installed_bytes(
                        dist if module == "fastmlp" else "tensorflow-cpu", True)
                    + (environment.installed_bytes("keras", True) if module == "keras" else 0),
                }
                if module == "fastmlp":
                    results["footprint"][module]["load_model_m2_ms"] = environment.model_load_ms(
                        5 if args.quick else 20)
            except Exception as exc:  # not installed, or its import fails
                results["footprint"][module] = {"error": f"not installed or failed to import ({exc})"}
    from fastmlp.bench import report
    print(report.text(results))
    report.write_json(results, out_dir / "results.json")
    why = report.write_chart(results, out_dir / "results.png")
    print(f"\nWrote {out_dir / 'results.json'}" + (f"; {why}" if why else f" and {out_dir / 'results.png'}"))
    return 0
