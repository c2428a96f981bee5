"""One-sample predict latency, predict throughput from request threads, and fit epoch time, for
the fastmlp on sys.path; run it against two builds in one session to compare them:

    python bench/serving_and_fit.py                  # this checkout's installed fastmlp
    PYTHONPATH=/path/to/other/build python bench/serving_and_fit.py

Prints the BLAS threadpoolctl reports, the CPU, and medians of repeated runs. Random weights and
random data (the speed of a dense step does not depend on the values, except through
subnormals, which random weights and inputs avoid)."""
import os
import platform
import statistics
import threading
import time

import numpy as np

import fastmlp as keras


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def model_m2():
    model = keras.Sequential([keras.layers.Dense(300, activation="relu", input_shape=(784,)),
                              keras.layers.Dense(200, activation="relu"),
                              keras.layers.Dense(100, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
    return model


def latency_us(model, x, calls=3000):
    model.predict_on_batch(x)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def throughput(model, x, threads, seconds=1.5):
    counts = [0] * threads
    stop = threading.Event()

    def worker(i):
        while not stop.is_set():
            model.predict_on_batch(x)
            counts[i] += 1
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in pool:
        t.join()
    return sum(counts) / seconds


def main():
    from threadpoolctl import threadpool_info, threadpool_limits
    print(f"fastmlp from {os.path.dirname(keras.__file__)}; CPU: {cpu_name()}")
    for info in threadpool_info():
        print(f"  BLAS: {info.get('internal_api')} {info.get('version')} {info.get('architecture')} "
              f"threads={info.get('num_threads')}")
    rng = np.random.default_rng(0)
    model = model_m2()
    one = rng.random((1, 784)).astype(np.float32)
    x = rng.random((60000, 784)).astype(np.float32)
    y = rng.integers(0, 10, 60000)
    with threadpool_limits(1):
        lat = [latency_us(model, one) for _ in range(3)]
        print(f"M2 predict_on_batch, 1 sample, 1 BLAS thread: median {statistics.median(lat):.1f} us")
        for threads in (1, 2):
            rate = statistics.median(throughput(model, one, threads) for _ in range(3))
            print(f"M2 predict_on_batch, 1 sample, {threads} request thread(s), 1 BLAS thread: {rate:,.0f} calls/s")
        for batch in (32, 128):
            model.fit(x[:4096], y[:4096], batch_size=batch, epochs=1, verbose=0)
            epochs = []
            for _ in range(3):
                start = time.perf_counter()
                model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
                epochs.append(time.perf_counter() - start)
            print(f"M2 fit, batch {batch}, 1 BLAS thread: median epoch {statistics.median(epochs):.3f} s "
                  f"({60000 / statistics.median(epochs):,.0f} samples/s)")


if __name__ == "__main__":
    main()
