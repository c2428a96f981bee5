"""Model files: fastmlp's own format (round trip, exact resume, every way a file can be wrong,
atomic saves), and Keras's (.keras and legacy .h5 files made by real Keras, read without
TensorFlow; .keras files written by fastmlp, checked against Keras's layout)."""
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastmlp as keras

DATA = Path(__file__).parent / "data"
KERAS_FILES = json.loads((DATA / "keras_files.json").read_text())


def trained_model(rng, optimizer="adam", epochs=2):
    model = keras.Sequential([keras.layers.Flatten(input_shape=(4, 3)),
                              keras.layers.Dense(9, activation="tanh", use_bias=False,
                                                 kernel_initializer="he_normal", name="hidden"),
                              keras.layers.Dense(5, activation="softmax", name="out")], name="net")
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics="accuracy")
    x = rng.random((60, 4, 3)).astype(np.float32)
    y = rng.integers(0, 5, 60)
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    return model, x, y


# ----- fastmlp's format ---------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "adagrad"])
def test_round_trip_is_exact(rng, tmp_path, optimizer):
    model, x, y = trained_model(rng, optimizer)
    path = tmp_path / "model.fastmlp"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [l.name for l in loaded.layers] == ["flatten", "hidden", "out"] and loaded.name == "net"
    assert isinstance(loaded.layers[1].kernel_initializer, keras.initializers.HeNormal)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 8
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    uncompiled = keras.models.load_model(path, compile=False)
    assert not uncompiled.compiled
    np.testing.assert_array_equal(uncompiled.predict(x, verbose=0), model.predict(x, verbose=0))


def test_training_resumes_bit_for_bit(rng, tmp_path):
    x = rng.random((200, 4, 3)).astype(np.float32)
    y = rng.integers(0, 5, 200)

    def fresh():
        keras.utils.set_random_seed(11)
        model = keras.Sequential([keras.layers.Flatten(input_shape=(4, 3)),
                                  keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(5, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model
    straight = fresh()
    straight.fit(x, y, epochs=5, verbose=0)
    first = fresh()
    first.fit(x, y, epochs=2, verbose=0)
    first.save(tmp_path / "half.fastmlp")
    resumed = keras.models.load_model(tmp_path / "half.fastmlp")
    resumed.fit(x, y, epochs=3, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    # without the optimizer the weights are the same, the optimizer starts afresh
    first.save(tmp_path / "bare.fastmlp", include_optimizer=False)
    assert keras.models.load_model(tmp_path / "bare.fastmlp").optimizer.iterations == 0


def test_unbuilt_and_uncompiled_models_and_float64(rng, tmp_path):
    unbuilt = keras.Sequential([keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)], name="lazy")
    unbuilt.save(tmp_path / "lazy.fastmlp")
    loaded = keras.models.load_model(tmp_path / "lazy.fastmlp")
    assert not loaded.built and not loaded.compiled and loaded.name == "lazy"
    keras.config.set_floatx("float64")
    try:
        wide = keras.Sequential([keras.layers.Dense(4, input_dim=3)])
    finally:
        keras.config.set_floatx("float32")
    wide.save(tmp_path / "f64.fastmlp")
    back = keras.models.load_model(tmp_path / "f64.fastmlp")
    assert back.dtype == "float64"
    np.testing.assert_array_equal(back.get_weights()[0], wide.get_weights()[0])


@pytest.mark.parametrize("name", ["w.weights.fastmlp", "w.weights.h5"])  # fastmlp's, Keras's
def test_save_and_load_weights(rng, tmp_path, name):
    model, x, _ = trained_model(rng)
    model.save_weights(tmp_path / name)
    other, _, _ = trained_model(np.random.default_rng(99))
    other.load_weights(tmp_path / name)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_weights_of_another_architecture_are_refused(rng, tmp_path):
    model, _, _ = trained_model(rng)
    model.save_weights(tmp_path / "w.weights.fastmlp")
    narrow = keras.Sequential([keras.layers.Dense(3, input_dim=12)])
    with pytest.raises(ValueError, match=r"holds weights of shapes \[\[\(12, 9\)\], .*has \[\[\(12, 3\), \(3,\)\]\]"):
        narrow.load_weights(tmp_path / "w.weights.fastmlp")


def _rewrite(path, change):
    """Rewrites a model file with change(header dict, entries dict) applied."""
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    header = json.loads(entries["fastmlp.json"])
    change(header, entries)
    entries["fastmlp.json"] = json.dumps(header).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def _set(path, *keys_and_value):
    *keys, value = keys_and_value

    def change(header, _):
        node = header
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return change


BAD_FILES = {
    "unknown version": (lambda p: _rewrite(p, _set(p, "version", 7)), "format version 7.*Upgrade"),
    "not our format": (lambda p: _rewrite(p, _set(p, "format", "other")), "not a fastmlp model file"),
    "unknown layer": (lambda p: _rewrite(p, lambda h, e: h["model"]["config"]["layers"][2].update(class_name="Conv2D")),
                      "layer type 'Conv2D' is not supported"),
    "unknown activation": (lambda p: _rewrite(p, lambda h, e: h["model"]["config"]["layers"][2]["config"].update(activation="mish")),
                           "activation 'mish'"),
    "unsupported option": (lambda p: _rewrite(p, lambda h, e: h["model"]["config"]["layers"][2]["config"].update(lora_rank=4)),
                           r"options fastmlp does not support: \{'lora_rank': 4\}"),
    "weights of the wrong shape": (lambda p: _rewrite(p, _set(p, "arrays", "weights", "shape", [10])), r"shape \[10\]; the model needs"),
    "a header claiming terabytes": (lambda p: _rewrite(p, lambda h, e: h["model"]["config"]["layers"][3]["config"].update(units=2**40)),
                                    "shape .* the model needs"),
    "wrong dtype": (lambda p: _rewrite(p, _set(p, "arrays", "weights", "dtype", "|O")), "dtype '\\|O'"),
    "checksum mismatch": (lambda p: _rewrite(p, _set(p, "arrays", "weights", "sha256", "0" * 64)), "does not match its SHA-256"),
    "entry shorter than declared": (lambda p: _rewrite(p, lambda h, e: e.update({"arrays/weights.bin": e["arrays/weights.bin"][:-4]})),
                                    "claims .* bytes"),
    "missing array": (lambda p: _rewrite(p, lambda h, e: e.pop("arrays/weights.bin")), "entry arrays/weights.bin is missing"),
    "not JSON": (lambda p: _rewrite(p, lambda h, e: None) or _replace_entry(p, "fastmlp.json", b"{nope"), "not valid JSON"),
    "not a zip": (lambda p: p.write_bytes(b"hello"), "not a readable zip"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not a readable zip|truncated|corrupted"),
    "optimizer slots missing": (lambda p: _rewrite(p, lambda h, e: h["optimizer_state"]["slots"].pop()), "keeps 2 state arrays"),
}


def _replace_entry(path, name, data):
    with zipfile.ZipFile(path) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    entries[name] = data
    with zipfile.ZipFile(path, "w") as archive:
        for n, d in entries.items():
            archive.writestr(n, d)


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_wrong_file_is_a_clear_error_naming_it(rng, tmp_path, case):
    damage, match = BAD_FILES[case]
    model, _, _ = trained_model(rng)
    path = tmp_path / "bad.fastmlp"
    model.save(path)
    damage(path)
    with pytest.raises(ValueError, match=match) as info:
        keras.models.load_model(path)
    assert str(path) in str(info.value)


def test_file_names_and_missing_files(tmp_path):
    model = keras.Sequential([keras.layers.Dense(2, input_dim=2)])
    with pytest.raises(ValueError, match="Unknown model file type.*'.fastmlp'"):
        model.save(tmp_path / "model.pkl")
    with pytest.raises(FileNotFoundError, match="No model file"):
        keras.models.load_model(tmp_path / "absent.fastmlp")


SAVE_FOREVER = """
import numpy as np, fastmlp as keras, sys
model = keras.Sequential([keras.layers.Dense(4096, input_dim=4096), keras.layers.Dense(2048)])
print("ready", flush=True)
while True:
    model.save(sys.argv[1])
"""


def test_a_save_killed_midway_leaves_the_previous_file_intact(rng, tmp_path):
    model, x, _ = trained_model(rng)
    path = tmp_path / "model.fastmlp"
    model.save(path)
    before = path.read_bytes()
    # the with block closes the pipes and reaps the child however the test ends
    with subprocess.Popen([sys.executable, "-c", textwrap.dedent(SAVE_FOREVER), str(path)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path) as proc:
        try:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
            # kill it while a temporary file is being written beside the model
            for _ in range(2000):
                if any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
                    break
                proc.poll()
                assert proc.returncode is None, proc.stderr.read()
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            proc.kill()
    # the file is either the old model or a complete new one, never a torn mix
    data = path.read_bytes()
    loaded = keras.models.load_model(path)
    if data == before:
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    else:
        assert loaded.count_params() == 4096 * 4096 + 4096 + 4096 * 2048 + 2048


def test_pickle_goes_through_the_model_file(rng):
    import pickle
    model, x, _ = trained_model(rng)
    data = pickle.dumps(model)
    assert b"fastmlp.json" in data  # the model file, not internals
    np.testing.assert_array_equal(pickle.loads(data).predict(x, verbose=0), model.predict(x, verbose=0))


# ----- Keras files -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(KERAS_FILES["models"]))
@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_files_made_by_keras_load_and_predict_as_keras(name, ext):
    case = KERAS_FILES["models"][name]
    model = keras.models.load_model(DATA / f"{name}.{ext}")
    out = model.predict(np.array(case["x"], np.float32), verbose=0)
    np.testing.assert_allclose(out, case["predictions"], rtol=1e-5, atol=1e-6)
    assert model.compiled and isinstance(model.optimizer, keras.optimizers.Adam)
    # a .keras file carries the optimizer's state; the legacy reader starts it afresh
    assert model.optimizer.iterations == (case["iterations"] if ext == "keras" else 0)


def test_a_keras_functional_chain_loads_as_a_functional_model():
    model = keras.models.load_model(DATA / "functional_chain.keras")
    assert isinstance(model, keras.Model) and type(model).__name__ == "Functional"
    assert [l.name for l in model.layers] == ["features", "dense_2", "dense_3", "dense_4"]
    assert model.name == "functional_chain" and model.input_shape == (None, 6)


def _keras_config(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json")), archive.read("model.weights.h5"), sorted(archive.namelist())


def _h5_layout(data):
    import h5py
    keys = []
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda key, item: keys.append((key, getattr(item, "shape", None))))
    return keys


def test_keras_files_written_by_fastmlp_have_keras_layout(tmp_path):
    # a Keras-made file, loaded and written again by fastmlp: the same zip members, layer
    # configs and HDF5 layout (weights and optimizer variables at the same paths and shapes)
    source = DATA / "seq_flatten.keras"
    model = keras.models.load_model(source)
    model.save(tmp_path / "again.keras")
    theirs, their_weights, their_members = _keras_config(source)
    ours, our_weights, our_members = _keras_config(tmp_path / "again.keras")
    assert our_members == their_members
    assert _h5_layout(our_weights) == _h5_layout(their_weights)
    assert [l["class_name"] for l in ours["config"]["layers"]] == [l["class_name"] for l in theirs["config"]["layers"]]
    for mine, keras_layer in zip(ours["config"]["layers"], theirs["config"]["layers"]):
        assert set(mine["config"]) <= set(keras_layer["config"]) | {"dtype"}
        for key in ("units", "activation", "use_bias", "batch_shape", "name"):
            if key in keras_layer["config"] and key in mine["config"] and key != "name":
                assert mine["config"][key] == keras_layer["config"][key]
    assert ours["compile_config"]["loss"] == theirs["compile_config"]["loss"]
    again = keras.models.load_model(tmp_path / "again.keras")
    x = np.array(KERAS_FILES["models"]["seq_flatten"]["x"], np.float32)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert again.optimizer.iterations == model.optimizer.iterations


@pytest.mark.parametrize("change,error,match", [
    (lambda c: c["config"]["layers"].append({"class_name": "GaussianNoise", "config": {"name": "noise", "stddev": 0.5}}),
     ValueError, "layer type 'GaussianNoise' is not supported"),
    (lambda c: c["config"]["layers"].append({"class_name": "BatchNormalization", "config": {"name": "bn", "renorm": True}}),
     ValueError, "'renorm': True"),
    (lambda c: c["config"]["layers"].append({"class_name": "ReLU", "config": {"name": "r", "max_value": 6.0}}),
     ValueError, "'max_value': 6.0"),
    (lambda c: c["config"]["layers"][2]["config"].update(activation="mish"), ValueError, "activation 'mish'"),
    (lambda c: c["config"]["layers"][2]["config"].update(kernel_regularizer={"class_name": "OrthogonalRegularizer", "config": {}}),
     ValueError, "OrthogonalRegularizer"),
    (lambda c: c["config"]["layers"][2]["config"].update(trainable="no"), ValueError, "'trainable' must be"),
])
def test_unsupported_keras_content_is_named(tmp_path, change, error, match):
    with zipfile.ZipFile(DATA / "seq_flatten.keras") as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(entries["config.json"])
    change(config)
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "odd.keras", "w") as archive:
        for n, d in entries.items():
            archive.writestr(n, d)
    with pytest.raises(error, match=match):
        keras.models.load_model(tmp_path / "odd.keras")


def test_a_branching_graph_names_the_node(tmp_path):
    with zipfile.ZipFile(DATA / "functional_chain.keras") as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(entries["config.json"])
    # dense_4 now reads the input too: two inputs, a merge the chain loader refuses
    node = config["config"]["layers"][3]["inbound_nodes"][0]
    node["args"].append(json.loads(json.dumps(node["args"][0])))
    node["args"][1]["config"]["keras_history"][0] = "features"
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "branch.keras", "w") as archive:
        for n, d in entries.items():
            archive.writestr(n, d)
    with pytest.raises(NotImplementedError, match="node 'dense_4' takes inputs"):
        keras.models.load_model(tmp_path / "branch.keras")


def test_without_h5py_the_error_names_the_extra(tmp_path):
    from conftest import run_isolated
    out = run_isolated(f"""
import sys
sys.modules["h5py"] = None
import fastmlp
try:
    fastmlp.models.load_model({str(DATA / 'seq_dense.keras')!r})
except ImportError as exc:
    print(exc)
""")
    assert 'pip install "fastmlp[keras]"' in out


def test_fastmlp_to_keras_and_back_with_real_keras(rng, tmp_path):
    real_keras = pytest.importorskip("keras", reason="Keras is not installed (pip install \".[test,parity]\")")
    for optimizer in ["adam", keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                      keras.optimizers.RMSprop(momentum=0.5), "adagrad"]:
        model, x, y = trained_model(rng, optimizer)
        model.save(tmp_path / "f.keras")
        theirs = real_keras.models.load_model(tmp_path / "f.keras")
        np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
        theirs.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
        model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
        for a, b in zip(theirs.get_weights(), model.get_weights()):
            np.testing.assert_allclose(a, b, atol=1e-6)
        theirs.save(tmp_path / "k.keras")
        back = keras.models.load_model(tmp_path / "k.keras")
        np.testing.assert_allclose(back.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-6)


def test_new_layers_to_keras_and_back_with_real_keras(rng, tmp_path):
    real_keras = pytest.importorskip("keras", reason="Keras is not installed (pip install \".[test,parity]\")")
    x = rng.standard_normal((64, 12)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = keras.Sequential([
        keras.Input((12,)), keras.layers.Dense(16), keras.layers.BatchNormalization(momentum=0.9),
        keras.layers.Activation("gelu"), keras.layers.Dropout(0.0), keras.layers.Dense(8, activation="selu"),
        keras.layers.LeakyReLU(0.1), keras.layers.ELU(0.5), keras.layers.ReLU(), keras.layers.Dense(5, activation="softsign"),
        keras.layers.Dense(3), keras.layers.Softmax()])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "f.keras")
    theirs = real_keras.models.load_model(tmp_path / "f.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    # one more epoch each, from the same weights and Adam state: the same training step
    theirs.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(theirs.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-5)
    theirs.save(tmp_path / "k.keras")
    back = keras.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)


def test_metrics_and_new_optimizer_settings_survive_both_formats(rng, tmp_path):
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 40)]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.AdamW(0.01, clipnorm=1.0), loss="categorical_crossentropy",
                  metrics=["mse", "acc", keras.metrics.TopKCategoricalAccuracy(k=2, name="top2")])
    model.fit(x, y, epochs=1, verbose=0)
    want = model.evaluate(x, y, verbose=0)
    for name in ("m.fastmlp", "m.keras"):
        model.save(tmp_path / name)
        again = keras.models.load_model(tmp_path / name)
        assert [spec.key for spec in again._metrics] == ["mse", "acc", "top2"]
        assert again.optimizer.clipnorm == 1.0 and again.optimizer.weight_decay == 0.004
        np.testing.assert_allclose(again.evaluate(x, y, verbose=0), want, rtol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: keras.optimizers.Nadam(keras.optimizers.schedules.ExponentialDecay(0.01, 10, 0.9)),
    lambda: keras.optimizers.AdamW(0.01, clipnorm=1.0, amsgrad=True),
    lambda: keras.optimizers.SGD(keras.optimizers.schedules.PiecewiseConstantDecay([5], [0.1, 0.01]), momentum=0.9, weight_decay=0.01),
])
def test_optimizer_state_continues_in_real_keras(rng, tmp_path, make):
    real_keras = pytest.importorskip("keras", reason="Keras is not installed (pip install \".[test,parity]\")")
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 40)]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="gelu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=make(), loss="categorical_crossentropy", metrics=["mse", "acc"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "f.keras")
    theirs = real_keras.models.load_model(tmp_path / "f.keras")
    assert int(theirs.optimizer.iterations) == model.optimizer.iterations == 10
    np.testing.assert_allclose(theirs.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-5)
    theirs.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(theirs.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    theirs.save(tmp_path / "k.keras")
    back = keras.models.load_model(tmp_path / "k.keras")
    assert back.optimizer.iterations == 15
    np.testing.assert_allclose(back.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-6)
