"""The benchmark's outputs: terminal tables with ratios, the JSON of every raw timing, and a
PNG bar chart."""
import json
import statistics
from pathlib import Path
from typing import Any, Optional

from fastmlp.bench.environment import cpu_label
from fastmlp.bench.load import BUSY, PAIR_MIN

# A figure whose timed epochs spread over more than this share of their median is marked
# unsteady: one thread repeats within 2% on this project's machines, so a wider spread means the
# machine changed speed while it was measured (a VM's second core does, by 30% and more).
UNSTEADY = 0.10


def unsteady(result: dict[str, Any]) -> bool:
    """Whether a training figure's epochs spread over more than UNSTEADY of their median."""
    low, median, high = result.get("samples_per_s_min_median_max") or (0, 0, 0)
    return bool(median) and (high - low) / median > UNSTEADY

BUSY_LEGEND = (f"! measured while other processes used over {100 * BUSY:.0f}% of the CPUs "
               "(background_load in results.json): repeat on a quiet machine")


def _busy_mark(result: dict[str, Any]) -> str:
    """'!' after a figure measured while other processes used over BUSY of the CPUs."""
    return "!" if (result.get("background_load") or 0) > BUSY else ""


PEERS_ORDER = ["fastmlp", "numpy", "keras", "pytorch", "scikit-learn", "onnxruntime"]


def _k(value: Optional[float]) -> str:
    if value is None:
        return "—"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    return f"{a / b:.2f}x" if a and b else "—"


def _training_table(run: dict[str, Any]) -> list[str]:
    rows: dict[Any, Any] = {}
    marks: dict[Any, str] = {}  # "!" busy, "~" unsteady, after a figure
    peak: dict[Any, Any] = {}
    for r in run["training"]:
        rows.setdefault((r["workload"], r["batch"]), {})[r["competitor"]] = r["samples_per_s"]
        marks[(r["workload"], r["batch"], r["competitor"])] = (
            _busy_mark(r) + ("~" if unsteady(r) else ""))
        if r["competitor"] == "fastmlp":
            peak[(r["workload"], r["batch"])] = r.get("percent_of_sgemm_peak")
    ceiling = {(c["workload"], c["batch"]): c["samples_per_s"] for c in run["ceiling"]}
    names = [n for n in PEERS_ORDER if any(n in v for v in rows.values())]
    head = f"{'workload':<9}{'batch':>6}" + "".join(f"{n:>13}" for n in names)
    head += f"{'ceiling':>10}{'fm/numpy':>10}{'fm/keras':>10}{'fm/best':>9}{'%ceil':>7}{'%peak':>7}"
    lines = [head]
    for (workload, batch), values in rows.items():
        fm = values.get("fastmlp")
        peers = [v for n, v in values.items() if n != "fastmlp"]
        ceil = ceiling.get((workload, batch))
        line = f"{workload:<9}{batch:>6}" + "".join(
            f"{_k(values.get(n)) + marks.get((workload, batch, n), ''):>13}" for n in names)
        line += f"{_k(ceil):>10}{_ratio(fm, values.get('numpy')):>10}{_ratio(fm, values.get('keras')):>10}"
        line += f"{_ratio(fm, max(peers) if peers else None):>9}"
        line += f"{(f'{100 * fm / ceil:.0f}%' if fm and ceil else '—'):>7}"
        pk = peak.get((workload, batch))
        line += f"{(f'{pk:.0f}%' if pk else '—'):>7}"
        lines.append(line)
    if any("!" in mark for mark in marks.values()):
        lines.append(BUSY_LEGEND)
    if any("~" in mark for mark in marks.values()):
        lines.append(f"~ unsteady: its timed epochs spread over more than {100 * UNSTEADY:.0f}% of their "
                     "median (samples_per_s_min_median_max): the machine changed speed meanwhile")
    return lines


def _threads_table(run: dict[str, Any]) -> list[str]:
    """fastmlp on this run's threads against one thread, N one-thread epochs side by side
    against one alone, round by round (measure._training), and its GEMM-only ceiling with the
    team's shares run at once: against the ceiling's one share alone, and the epoch's share
    of it; [] where not measured."""
    rows = [r for r in run["training"] if r.get("one_thread_epoch_seconds")]
    if not rows:
        return []
    at_once = {(c["workload"], c["batch"]): c for c in run.get("ceiling", [])
               if c.get("at_once_epoch_seconds")}
    n = rows[0]["side_by_side_epochs"]
    lines = [f"{'workload':<9}{'batch':>6}{f'{n} threads':>22}{'side by side':>22}{'share':>14}"
             f"{'GEMMs at once':>22}{'% at once':>14}"]
    for r in rows:
        one, mine, side = (r["one_thread_epoch_seconds"], r["epoch_seconds"],
                           r["side_by_side_epoch_seconds"])
        gain = round_ratios(one, mine)
        most = round_ratios([n * t for t in one], side)
        share = round_ratios(side, [n * t for t in mine])  # gain / most, round by round
        ceiling = at_once.get((r["workload"], r["batch"]))
        together = percent = None
        if ceiling:
            # the shares at once against one share alone (under 1x: what running them on
            # every core at once costs), and this epoch against the at-once ceiling
            together = round_ratios(ceiling["epoch_seconds"], ceiling["at_once_epoch_seconds"])
            percent = round_ratios(ceiling["at_once_epoch_seconds"], mine)
        lines.append(f"{r['workload']:<9}{r['batch']:>6}{_paired(gain):>22}{_paired(most):>22}"
                     f"{_percent(share):>14}{_paired(together):>22}{_percent(percent):>14}")
    return lines


def _percent(value: Optional[tuple[float, float, float]]) -> str:
    return (f"{100 * value[0]:.0f}% [{100 * value[1]:.0f}-{100 * value[2]:.0f}]" if value
            else "—")


def _inference_table(run: dict[str, Any]) -> list[str]:
    through = {(t["workload"], t["competitor"], t["mode"]): t["samples_per_s"] for t in run["throughput"]}
    lines = [f"{'workload':<9}{'engine':<13}{'call':<18}{'median µs':>10}{'p99 µs':>9}{'b1024 samples/s':>17}"]
    for r in run["latency"]:
        key = (r["workload"], r["competitor"], r["mode"])
        lines.append(f"{r['workload']:<9}{r['competitor']:<13}{r['mode']:<18}{r['median_us']:>10.1f}"
                     f"{r['p99_us']:>9.1f}{_k(through.get(key)):>17}")
    return lines


def round_ratios(mine: list[float], theirs: list[float]) -> Optional[tuple[float, float, float]]:
    """Median and quartiles of mine[i] / theirs[i] over the rounds both were measured in (a
    round's engines took their calls within a second or so of each other, while the VM's
    speed moves within seconds: ratios paired round by round carry less of that drift than a
    ratio of pooled figures); None without rounds in common."""
    ratios = [a / b for a, b in zip(mine, theirs) if a > 0 and b > 0]
    if not ratios:
        return None
    if len(ratios) == 1:
        return ratios[0], ratios[0], ratios[0]
    low, median, high = statistics.quantiles(ratios, n=4, method="inclusive")
    return median, low, high


def _paired(value: Optional[tuple[float, float, float]]) -> str:
    return f"{value[0]:.2f}x [{value[1]:.2f}-{value[2]:.2f}]" if value else "—"


def _paired_table(run: dict[str, Any]) -> list[str]:
    """fastmlp's first inference mode against every other engine's first, paired round by
    round: one-sample µs (fastmlp's / theirs: under 1 is faster) and batch-1024 rate (fastmlp's
    / theirs: over 1 is faster)."""
    def first(kind: str) -> dict[tuple[str, str], list[float]]:
        found: dict[tuple[str, str], list[float]] = {}
        for r in run[kind]:
            if "round_median_us" in r:
                found.setdefault((r["workload"], r["competitor"]), r["round_median_us"])
        return found
    latency, batch = first("latency"), first("throughput")
    lines = []
    for (workload, engine), theirs in latency.items():
        mine = latency.get((workload, "fastmlp"))
        if engine == "fastmlp" or mine is None:
            continue
        # a rate's ratio is the inverse of its times'
        rate = (round_ratios(batch[workload, engine], batch[workload, "fastmlp"])
                if (workload, engine) in batch and (workload, "fastmlp") in batch else None)
        lines.append(f"{workload:<9}{engine:<13}{_paired(round_ratios(mine, theirs)):>26}"
                     f"{_paired(rate):>26}")
    if not lines:
        return []
    return [f"{'workload':<9}{'against':<13}{'one sample, µs ratio':>26}{'batch 1024, rate ratio':>26}",
            *lines]


def _concurrent_mark(c: dict[str, Any]) -> str:
    """_busy_mark's '!', and '*' after a figure measured while the machine gave two threads of
    compute less than PAIR_MIN cores (core_pair in results.json)."""
    pair = c.get("core_pair")
    return _busy_mark(c) + ("*" if pair is not None and pair < PAIR_MIN else "")


def _concurrent_table(run: dict[str, Any]) -> list[str]:
    """Rows/s from 1 and 2 request threads sharing one model, and the scaling between them."""
    found = {(c["workload"], c["competitor"], c["batch"], c["callers"]): c
             for c in run.get("concurrent", [])}
    lines = [f"{'workload':<9}{'engine':<13}{'batch':>6}{'1 caller':>11}{'2 callers':>11}{'scaling':>9}"]
    marks = ""
    for (workload, engine, batch, callers), c in found.items():
        if callers != 1:
            continue
        one = c["samples_per_s_min_median_max"][1]
        pair = found.get((workload, engine, batch, 2))
        two = pair["samples_per_s_min_median_max"][1] if pair else None
        mark_one, mark_two = _concurrent_mark(c), _concurrent_mark(pair) if pair else ""
        marks += mark_one + mark_two
        lines.append(f"{workload:<9}{engine:<13}{batch:>6}{_k(one) + mark_one:>11}"
                     f"{_k(two) + mark_two:>11}{(f'×{two / one:.2f}' if two else '—'):>9}")
    if run.get("threads", 1) >= 2 and any(c["batch"] <= 2 and c["competitor"] == "fastmlp"
                                          for c in run.get("concurrent", [])):
        lines.append("fastmlp's lone caller shares its call with a helper thread (batch 1: a "
                     "large model's layers, M2; batch 64: half the rows); two callers keep a "
                     "core each: set their rate against the 1-thread run's lone caller")
    if "!" in marks:
        lines.append(BUSY_LEGEND)
    if "*" in marks:
        lines.append(f"* measured while two threads of compute alone got under ×{PAIR_MIN} one "
                     "thread's rate (core_pair in results.json), after retries: the machine gave "
                     "the two callers less than two cores")
    return lines


def text(results: dict[str, Any]) -> str:
    """The terminal report."""
    out = []
    env = results["runs"][0]["environment"] if results["runs"] else {}
    label = cpu_label(env.get("cpu_identity") or {})
    out.append(f"CPU: {env.get('cpu')} ({env.get('cores')} cores{'; ' + label if label else ''}); "
               f"Python {env.get('python')}, NumPy {env.get('numpy')}, SciPy {env.get('scipy')}")
    out.append(f"fastmlp's elementwise loops: {env.get('simd_clone', 'unknown')} clone; "
               f"its optimizers' square roots: {env.get('optimizer_sqrt', 'unknown')}; "
               f"its inference GEMM: {env.get('inference_gemm', 'unknown')}")
    for lib in env.get("blas", []):
        if "error" in lib:
            out.append(f"BLAS: {lib['error']}")
        elif lib.get("user_api") != "blas":
            out.append(f"{lib.get('user_api')}: {lib['prefix']} {lib['filepath']}")
        else:
            out.append(f"BLAS: {lib['prefix']} {lib['version']} kernel {lib['architecture']} "
                       f"({lib['threading_layer']}) {lib['filepath']}")
    cleared = results.get("cleared_openblas_variables")
    out.append("OpenBLAS variables: " + (f"cleared for this run ({', '.join(cleared)})" if cleared else "not set"))
    for run in results["runs"]:
        n = run["threads"]
        out.append("")
        out.append(f"== {n} thread{'s' if n > 1 else ''} == sgemm 2048³: {run['sgemm_gflops_2048']:.1f} GFLOP/s; "
                   f"data: {run['data']['source']}, {run['data']['samples']:,} samples")
        versions = ", ".join(f"{k} {v}" for k, v in run["versions"].items())
        out.append(f"engines: {versions}")
        for name, why in run["missing"].items():
            out.append(f"{name}: {why}")
        out.append("Training throughput, samples/s (median of timed epochs, Adam, float32; ceiling = the "
                   "step's GEMMs alone, all of their products (fit's first layer skips those of "
                   "inputs zero across a tile's block); %peak = the step's FLOPs at fastmlp's rate "
                   "against sgemm's; min and max per figure in results.json):")
        out.extend(_training_table(run))
        threads_table = _threads_table(run)
        if threads_table:
            out.append(f"fastmlp on {n} threads against one thread, round by round (median "
                       f"[quartiles] of the rounds' ratios; each round an epoch on {n} threads, "
                       f"one on one thread, and {n} one-thread epochs side by side, copies of "
                       f"the model on threads of their own, against one alone: the most {n} "
                       f"threads could give on this machine in that round; share: the first "
                       f"over the second; GEMMs at once: the ceiling with its team's shares "
                       f"of the products run at the same time, meeting once a step, against "
                       f"the ceiling (one share alone, as if the others cost nothing); % at "
                       f"once: the epoch against that at-once ceiling):")
            out.extend(threads_table)
        zeros = run["data"].get("one_sample_zero_fraction")
        out.append("Inference: one-sample latency and batch-1024 throughput (every engine's calls "
                   "in rounds taken in turn, pooled; the sample is the data's first row"
                   + (f", {zeros:.0%} of its inputs zero" if zeros is not None else "") + "):")
        out.extend(_inference_table(run))
        paired = _paired_table(run)
        if paired:
            out.append("fastmlp (its first call) against each engine's first call, paired round "
                       "by round (median [quartiles] of the rounds' ratios; µs under 1x and rate "
                       "over 1x: fastmlp faster):")
            out.extend(paired)
        if run.get("concurrent"):
            out.append("Concurrent requests: samples/s from request threads sharing one model "
                       "(median of 3; ORT with this run's intra-op threads; 2 callers measured "
                       "again while a compute-only probe of two threads read under "
                       f"×{PAIR_MIN}):")
            out.extend(_concurrent_table(run))
    if results.get("footprint"):
        out.append("")
        out.append("Import time and installed size (own files / with runtime dependencies):")
        for name, f in results["footprint"].items():
            if "error" in f:
                out.append(f"  {name}: {f['error']}")
            else:
                out.append(f"  {name}: import {f['import_seconds'] * 1e3:.0f} ms; "
                           f"{f['own_bytes'] / 2**20:.1f} MiB / {f['with_dependencies_bytes'] / 2**20:.0f} MiB")
                if "load_model_m2_ms" in f:
                    load = f["load_model_m2_ms"]
                    out.append(f"  {name}: load_model of M2 (.fastmlp) {load['weights_only']:.1f} ms, "
                               f"{load['with_optimizer']:.1f} ms with Adam's state")
    return "\n".join(out)


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, sort_keys=False))


def write_chart(results: dict[str, Any], path: Path) -> Optional[str]:
    """A PNG of training throughput and one-sample latency; returns why not, if it cannot."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: no chart"
    runs = results["runs"]
    fig, axes = plt.subplots(2, len(runs), figsize=(6.5 * len(runs), 8), squeeze=False)
    for col, run in enumerate(runs):
        ax = axes[0][col]
        configs = sorted({(r["workload"], r["batch"]) for r in run["training"]})
        names = [n for n in PEERS_ORDER if any(r["competitor"] == n for r in run["training"])]
        width = 0.8 / (len(names) + 1)
        for i, name in enumerate([*names, "ceiling"]):
            if name == "ceiling":
                values = {(c["workload"], c["batch"]): c["samples_per_s"] for c in run["ceiling"]}
            else:
                values = {(r["workload"], r["batch"]): r["samples_per_s"] for r in run["training"] if r["competitor"] == name}
            ax.bar([j + i * width for j in range(len(configs))], [values.get(c, 0) / 1e3 for c in configs],
                   width, label="GEMM-only ceiling" if name == "ceiling" else name,
                   color="lightgrey" if name == "ceiling" else None)
        ax.set_xticks([j + width * len(names) / 2 for j in range(len(configs))])
        ax.set_xticklabels([f"{w} b{b}" for w, b in configs])
        ax.set_ylabel("training samples/s (thousands)")
        ax.set_title(f"Training, {run['threads']} thread(s)")
        ax.legend(fontsize=8)
        ax = axes[1][col]
        best: dict[Any, Any] = {}
        for r in run["latency"]:
            key = (r["workload"], r["competitor"])
            best[key] = min(best.get(key, float("inf")), r["median_us"])
        workloads = sorted({w for w, _ in best})
        lat_names = [n for n in PEERS_ORDER if any(c == n for _, c in best)]
        width = 0.8 / max(1, len(lat_names))
        for i, name in enumerate(lat_names):
            ax.bar([j + i * width for j in range(len(workloads))], [best.get((w, name), 0) for w in workloads],
                   width, label=name)
        ax.set_yscale("log")
        ax.set_xticks([j + width * (len(lat_names) - 1) / 2 for j in range(len(workloads))])
        ax.set_xticklabels(workloads)
        ax.set_ylabel("one-sample latency, µs (median, fastest call; log)")
        ax.set_title(f"Inference, {run['threads']} thread(s)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
