"""Fuzz targets for what reads user input: the IDX dataset parser and the argument conversion
of fit/evaluate/predict (fastmlp/data.py, then the compiled engine). Each input must give a
result or a ValueError/TypeError, never another exception and never a crash.

    python tests/fuzz/fuzz_targets.py --seconds 30     # a longer run, from the repository root

CI runs 3 rounds of it (300 examples) in a subprocess (tests/test_fuzz.py), so that a crash fails that
test instead of the run. Uses hypothesis (pip install hypothesis).
"""
import argparse
import gzip
import struct
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastmlp as keras
from fastmlp.datasets import idx

EXPECTED = (ValueError, TypeError)
WORKDIR = Path(tempfile.mkdtemp(prefix="fastmlp-fuzz-"))

# ----- the IDX parser ---------------------------------------------------------------------------

idx_headers = st.builds(
    lambda dtype, dims, extra: bytes([0, 0, dtype, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims) + extra,
    st.sampled_from([8, 8, 8, 9, 11, 13]),
    st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 6), max_size=4),
    st.binary(max_size=64))


IDX_STRATEGIES = {"raw": st.binary(max_size=256) | idx_headers, "compress": st.booleans(),
                      "cut": st.integers(0, 300)}


def fuzz_idx(raw, compress, cut):
    path = WORKDIR / "input.gz"
    data = gzip.compress(raw) if compress else raw
    path.write_bytes(data[:cut] if cut < len(data) and not compress else data)
    try:
        array = idx.read_idx(path)
    except EXPECTED as exc:
        assert str(path) in str(exc), f"the error does not name the file: {exc}"
        return
    assert array.dtype == np.uint8 and array.ndim >= 1


# ----- fit / evaluate / predict arguments -------------------------------------------------------

dtypes = st.sampled_from([np.bool_, np.int8, np.uint8, np.int32, np.int64, np.uint64, np.float16,
                          np.float32, np.float64, np.complex64, np.str_, object])
arrays = hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
                    elements=None, fill=st.nothing()).filter(lambda a: a.dtype != object) | \
    hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
               elements=st.floats(allow_nan=True, allow_infinity=True, width=32))
views = st.builds(lambda a, step: a[::step] if a.ndim else a, arrays, st.sampled_from([1, 2, -1]))
inputs = views | st.lists(st.lists(st.floats(width=32), max_size=5), max_size=4) | st.none() | st.text(max_size=3)

MODELS = {}


def model_for(loss, units, activation):
    key = (loss, units, activation)
    if key not in MODELS:
        model = keras.Sequential([keras.layers.Flatten(input_shape=(3, 2)),
                                  keras.layers.Dense(units, activation=activation)])
        model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"] if loss != "mse" else None)
        MODELS[key] = model
    return MODELS[key]


ARGUMENT_STRATEGIES = {
    "x": inputs, "y": inputs,
    "plan": st.sampled_from([("sparse_categorical_crossentropy", 4, "softmax"),
                          ("sparse_categorical_crossentropy", 1, "sigmoid"),
                          ("categorical_crossentropy", 4, "softmax"),
                          ("binary_crossentropy", 1, "sigmoid"), ("mse", 2, None)]),
    "batch_size": st.integers(1, 5) | st.just(2**40), "call": st.sampled_from(["fit", "evaluate", "predict"])}


def fuzz_arguments(x, y, plan, batch_size, call):
    model = model_for(*plan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's casting warnings are not what is tested
        try:
            if call == "fit":
                model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
            elif call == "evaluate":
                model.evaluate(x, y, batch_size=batch_size, verbose=0)
            else:
                out = model.predict(x, batch_size=batch_size, verbose=0)
                assert out.shape[1:] == (plan[1],)
        except EXPECTED:
            return
        except FloatingPointError:
            return  # a loss that overflows is reported, not returned
    assert all(np.isfinite(w).all() for w in model.get_weights())


TARGETS = {"idx": (fuzz_idx, IDX_STRATEGIES), "arguments": (fuzz_arguments, ARGUMENT_STRATEGIES)}
ROUND = 50  # examples of each target per round


def run(seconds: float, seed: int = 0, rounds: int = 0) -> int:
    """Runs every target in rounds, each round with a seed of its own, until `seconds` pass
    (or, with rounds > 0, that many rounds, however long they take); returns the examples run.
    A failing example raises (hypothesis shows it, shrunk)."""
    deadline = time.monotonic() + seconds
    examples = 0
    for round_ in range(rounds or 10**9):
        if not rounds and time.monotonic() >= deadline:
            break
        for function, strategies in TARGETS.values():
            test = given(**strategies)(function)
            test = hypothesis_seed(seed + round_)(test)
            settings(max_examples=ROUND, deadline=None, database=None,
                     suppress_health_check=list(HealthCheck))(test)()
            examples += ROUND
    return examples


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=0,
                        help=f"run this many rounds ({ROUND} examples of each target each) instead")
    args = parser.parse_args()
    count = run(args.seconds, rounds=args.rounds)
    print(f"fuzz: {count} examples, 0 crashes, 0 unexpected errors")
    sys.exit(0)
