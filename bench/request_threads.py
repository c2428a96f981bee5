"""Request threads sharing one model: samples/s from 1 and 2 threads calling predict_on_batch
at batch 1 and 64, on fastmlp's own inference GEMM (the default) and on BLAS (as before it),
beside ONNX Runtime sessions with one intra-op thread, all with
fastmlp.config.set_num_threads(1) (a call on its calling thread, as ORT's sessions); then
fastmlp with the default thread count, where a lone caller shares its call with a helper
thread and two callers keep a core each; and one 65,536-row batch with set_num_threads(1)
and (2). Medians of 3 (min–max in brackets).

    python bench/request_threads.py

Prints the CPU, fastmlp's inference GEMM level and the BLAS threadpoolctl reports. Random
weights and data (a dense step's speed does not depend on the values, except through
subnormals, which random inputs avoid)."""
import statistics
import time

import numpy as np

import fastmlp as keras
from fastmlp.bench.competitors import OnnxRuntime
from fastmlp.bench.environment import cpu_label, describe
from fastmlp.bench.load import settle
from fastmlp.bench.measure import concurrent_rates
from fastmlp.bench.workloads import WORKLOADS


def model_for(hidden):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(shape=(784,))]
                            + [keras.layers.Dense(units, activation="relu") for units in hidden]
                            + [keras.layers.Dense(10, activation="softmax")])


def triple(fn, x, callers, seconds=0.4):
    settle()  # the previous measurement's pool threads (BLAS's) may still be spinning
    rates, pair, retries = concurrent_rates(fn, x, callers, seconds)
    rates.sort()
    return rates[1], rates[0], rates[2], pair, retries


def show(label, one, two):
    probe = "" if two[3] is None else f"  probe ×{two[3]:.2f}, {two[4]} taken again"
    print(f"{label:<38} {one[0] / 1e3:8.1f}k → {two[0] / 1e3:8.1f}k  ×{two[0] / one[0]:.2f}"
          f"   [{two[1] / 1e3:.0f}–{two[2] / 1e3:.0f}k]{probe}", flush=True)


def main():
    env = describe()
    print(f"CPU: {env['cpu']} ({env['cores']} cores; {cpu_label(env['cpu_identity'])}); "
          f"fastmlp's inference GEMM: {env['inference_gemm']}")
    for lib in env["blas"]:
        print(f"  BLAS: {lib.get('prefix')} {lib.get('version')} {lib.get('architecture')} "
              f"threads={lib.get('num_threads')}")
    rng = np.random.default_rng(0)
    ort_missing = OnnxRuntime.missing()
    keras.config.set_num_threads(1)
    for name in ("M1", "M2"):
        workload = WORKLOADS[name]
        model = model_for(workload.hidden)
        network = model.engine.network
        own = network.gemm_levels
        ort = None
        if not ort_missing:
            ort = OnnxRuntime(1)
            ort.build(workload)
        for batch in (1, 64):
            x = rng.random((batch, 784), dtype=np.float32)
            show(f"{name} batch {batch:>2} fastmlp", triple(model.predict_on_batch, x, 1),
                 triple(model.predict_on_batch, x, 2))
            network.set_gemm_levels(0, own[1])
            show(f"{name} batch {batch:>2} fastmlp on BLAS", triple(model.predict_on_batch, x, 1),
                 triple(model.predict_on_batch, x, 2))
            network.set_gemm_levels(*own)
            if ort is not None:
                run = ort.inference_modes()["run"]
                show(f"{name} batch {batch:>2} ONNX Runtime (1 intra-op)", triple(run, x, 1), triple(run, x, 2))
        if ort_missing:
            print(f"ONNX Runtime: {ort_missing}")
    keras.config.set_num_threads(None)
    for name in ("M1", "M2"):
        model = model_for(WORKLOADS[name].hidden)
        for batch in (1, 64):
            x = rng.random((batch, 784), dtype=np.float32)
            show(f"{name} batch {batch:>2} fastmlp, num_threads={keras.config.num_threads()}",
                 triple(model.predict_on_batch, x, 1), triple(model.predict_on_batch, x, 2))
    model = model_for(WORKLOADS["M2"].hidden)
    big = rng.random((65536, 784), dtype=np.float32)
    for threads in (1, 2):
        keras.config.set_num_threads(threads)
        model.predict_on_batch(big)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            model.predict_on_batch(big)
            times.append(time.perf_counter() - start)
        print(f"M2 one 65,536-row batch, num_threads={threads}: "
              f"{65536 / statistics.median(times) / 1e3:.1f}k samples/s", flush=True)
    keras.config.set_num_threads(None)


if __name__ == "__main__":
    main()
