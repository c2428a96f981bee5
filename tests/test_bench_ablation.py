"""bench/ablation.py, the measurement of what each speed feature buys: each variant really runs
with its feature off, every switch is back on after it (a measurement must not leave the
process slower, or the next variant measured against the wrong baseline), and its table
reads the ratios the right way round."""
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

import fastmlp
from fastmlp._kernels import network
from fastmlp._kernels.small_gemm import small_gemm_level

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "ablation.py"


@pytest.fixture(scope="module")
def ablation():
    spec = importlib.util.spec_from_file_location("ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    before = dict(os.environ)
    spec.loader.exec_module(module)
    assert dict(os.environ) == before  # imported, it leaves the OpenBLAS variables alone
    return module


def _state(model):
    net = model.engine.network
    rule = model._training_rule("the test")
    return (network.flush_denormals(), network.prefetch_batches(), net.gemm_levels,
            net.keeps_inputs, net.pack_min_rows, rule.split_level, fastmlp.config.num_threads())


def test_each_fit_variant_runs_with_its_feature_off_and_restores_it(ablation, threads):
    model = ablation._build(ablation.workloads.WORKLOADS["M1"], seed=0)  # on one thread
    rng = np.random.default_rng(0)
    x = rng.random((96, 784), dtype=np.float32)
    y = rng.integers(0, 10, 96)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    before = _state(model)
    assert before[6] == 1
    seen = {}
    variants = ablation.fit_variants(2)
    assert next(iter(variants)) == "all on" and "3 all on, 2 threads" in variants
    if small_gemm_level() > 0:
        assert "4 products on BLAS, not own GEMM" in variants
    for label, (switch, n) in variants.items():
        def spy(m, off, switch=switch, label=label):
            switch(m, off)
            if off:
                seen[label] = _state(m)
        assert ablation._epoch(model, spy, n, x, y, 32, settle=1) > 0
        assert _state(model) == before, label
    assert seen["all on"] == before
    assert seen["1 no flush to zero"][0] is False
    assert seen["3 all on, 2 threads"][6] == 2
    if small_gemm_level() == 2:
        assert seen["2 GEMM on AVX2, not AVX-512"][2] == (before[2][0], 1)
    if "2 Adam's roots all by the divider" in seen:
        assert before[5] > 0 and seen["2 Adam's roots all by the divider"][5] == 0
    if small_gemm_level() > 0:
        assert seen["4 products on BLAS, not own GEMM"][2] == (before[2][0], 0)
        assert seen["5 no prefetch of the next batch"][1] is False
        assert before[3] and seen["  zero inputs not skipped"][3] is False


def test_the_predict_variants_restore_the_packs_and_levels(ablation, threads):
    x = np.random.default_rng(1).random((1024, 784), dtype=np.float32)
    model = ablation._build(ablation.workloads.WORKLOADS["M1"], seed=0)
    before = (model.engine.network.gemm_levels, model.engine.network.pack_min_rows)
    expected = model.predict_on_batch(x[:200])
    for switch in (ablation._packs, ablation._predict_level(0)):
        switch(model, True)
        assert (model.engine.network.gemm_levels, model.engine.network.pack_min_rows) != before
        np.testing.assert_allclose(model.predict_on_batch(x[:200]), expected, rtol=1e-5, atol=1e-7)
        switch(model, False)
        assert (model.engine.network.gemm_levels, model.engine.network.pack_min_rows) == before


def test_the_table_says_how_many_times_faster_the_feature_makes_it(ablation):
    columns = {"M1 b32": {"all on": [1.0, 2.0, 1.0, 1.0, 0.5],
                          "slow without": [1.2, 2.8, 1.6, 2.0, 0.7],
                          "3 all on, 2 threads": [1 / 1.2, 2 / 1.4, 1 / 1.6, 1 / 1.8, 0.5 / 2]},
               "M2 b32": {"all on": [1.0], "6 only here": [4.0], "probe": [1.9]}}
    text = ablation.table("fit", columns)
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines()[2:]}
    # the variant's time over all on's, round by round: 1.2, 1.4, 1.6, 2.0, 1.4
    assert rows["slow without"] == ["×1.40 [1.40-1.60]", "—"]
    # one thread's time over the threads': 1.2, 1.4, 1.6, 1.8, 2.0
    assert rows["3 all on, 2 threads"] == ["×1.60 [1.40-1.80]", "—"]
    assert rows["6 only here"] == ["—", "×4.00 [4.00-4.00]"]
    assert rows["(two threads' probe, median)"] == ["—", "×1.90"] and "probe" not in rows
