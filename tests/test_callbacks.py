"""Callbacks on a small real-data run (2,000 Fashion-MNIST images): early stopping stops at the
epoch Keras's rule gives and restores the best weights; checkpoints appear under their
formatted names; schedules change the rate the optimizer uses; the CSV holds the history."""
import csv

import numpy as np
import pytest

import fastmlp as keras
from fastmlp import callbacks as cbs


@pytest.fixture(scope="module")
def data():
    (x, y), _ = keras.datasets.fashion_mnist.load_data()
    x, y = (x[:2500] / 255).astype(np.float32), y[:2500]
    return (x[:2000], y[:2000]), (x[2000:], y[2000:])


def model_for(lr=0.01, optimizer="adam"):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28)),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    opt = keras.optimizers.Adam(lr) if optimizer == "adam" else keras.optimizers.SGD(lr)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics="accuracy")
    return model


class Recorder(cbs.Callback):
    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def test_early_stopping_stops_where_keras_rule_says_and_restores_the_best(data):
    (x, y), val = data
    model = model_for(lr=0.02)  # overfits quickly: val_loss turns up within a few epochs
    recorder = Recorder()
    stopper = cbs.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=30, validation_data=val, callbacks=[recorder, stopper], verbose=0)
    losses = history.history["val_loss"]
    # the rule, recomputed from the history: stop `patience` epochs after the last improvement
    best, wait, stop = None, 0, None
    for epoch, value in enumerate(losses):
        wait += 1
        if best is None or value < best:
            best, best_epoch, wait = value, epoch, 0
        elif wait >= 2:
            stop = epoch
            break
    assert stop is not None and len(losses) == stop + 1 < 30 and stopper.stopped_epoch == stop
    for got, want in zip(model.get_weights(), recorder.weights[best_epoch]):
        np.testing.assert_array_equal(got, want)


def test_early_stopping_with_a_min_delta_nothing_meets(data):
    (x, y), _ = data
    model = model_for()
    recorder = Recorder()
    model.fit(x, y, epochs=10, verbose=0, callbacks=[recorder, cbs.EarlyStopping(
        monitor="loss", min_delta=10, patience=2, restore_best_weights=True)])
    assert len(recorder.weights) == 3  # epoch 0 sets the best; 1 and 2 do not beat it by 10
    for got, want in zip(model.get_weights(), recorder.weights[0]):
        np.testing.assert_array_equal(got, want)


def test_checkpoints_appear_under_their_formatted_names(data, tmp_path):
    (x, y), val = data
    model = model_for()
    every = cbs.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{val_loss:.2f}.fastmlp"))
    best = cbs.ModelCheckpoint(str(tmp_path / "best.weights.h5"), save_best_only=True, save_weights_only=True)
    history = model.fit(x, y, epochs=3, validation_data=val, callbacks=[every, best], verbose=0)
    names = sorted(p.name for p in tmp_path.iterdir())
    want = sorted(f"m-{e + 1:02d}-{v:.2f}.fastmlp" for e, v in enumerate(history.history["val_loss"]))
    assert names == sorted([*want, "best.weights.h5"])
    last = keras.models.load_model(tmp_path / f"m-03-{history.history['val_loss'][-1]:.2f}.fastmlp")
    np.testing.assert_array_equal(last.predict(val[0][:5], verbose=0), model.predict(val[0][:5], verbose=0))
    with pytest.raises(ValueError, match="weights.fastmlp"):
        cbs.ModelCheckpoint(str(tmp_path / "w.fastmlp"), save_weights_only=True)


def test_learning_rate_schedules(data, tmp_path):
    (x, y), val = data
    model = model_for(lr=0.1, optimizer="sgd")
    log = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=3, validation_data=val, verbose=0, callbacks=[
        cbs.LearningRateScheduler(lambda epoch, lr: lr / 2), cbs.CSVLogger(log)])
    np.testing.assert_allclose(history.history["learning_rate"], [0.05, 0.025, 0.0125])
    assert model.optimizer._rule.learning_rate == pytest.approx(0.0125)  # what the kernel uses
    with open(log) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    np.testing.assert_allclose([float(r["val_loss"]) for r in rows], history.history["val_loss"])
    plateau = model_for(lr=0.1, optimizer="sgd")
    history = plateau.fit(x, y, epochs=4, verbose=0, callbacks=[
        cbs.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10)])
    # no epoch improves by 10: the rate halves after each epoch but the first, which sets the best
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.1, 0.05, 0.025])


def test_lambda_callback_and_terminate_on_nan(data, rng):
    (x, y), _ = data
    seen = []
    model = model_for()
    model.fit(x[:200], y[:200], epochs=2, verbose=0, callbacks=[cbs.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append((epoch, round(logs["loss"], 6))))])
    assert [e for e, _ in seen] == [0, 1]
    with pytest.raises(ValueError, match="not the test or predict batch hooks"):
        cbs.LambdaCallback(on_test_batch_end=lambda batch, logs: None)
    diverging = keras.Sequential([keras.layers.Dense(8, input_dim=4), keras.layers.Dense(1)])
    diverging.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    xs, ys = rng.standard_normal((64, 4)) * 100, rng.standard_normal(64) * 100
    history = diverging.fit(xs, ys, epochs=50, batch_size=8, verbose=0, callbacks=[cbs.TerminateOnNaN()])
    assert len(history.history.get("loss", [])) < 50
    assert all(np.isfinite(w).all() for w in diverging.get_weights())


def test_batch_hooks_see_every_step_and_can_stop_training(data):
    (x, y), _ = data
    events = []
    model = model_for()
    hooks = cbs.LambdaCallback(on_train_batch_begin=lambda b, logs: events.append(("begin", b)),
                               on_batch_end=lambda b, logs: events.append(("end", b, round(logs["loss"], 6))))
    model.fit(x[:100], y[:100], epochs=2, batch_size=32, verbose=0, callbacks=[hooks])
    assert [e[:2] for e in events] == [(kind, b) for _ in range(2) for b in range(4) for kind in ("begin", "end")]
    assert all(len(e) == 2 or e[2] > 0 for e in events)

    class StopAfterThree(cbs.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                self.model.stop_training = True
    model = model_for()
    history = model.fit(x[:320], y[:320], epochs=3, batch_size=32, verbose=0, callbacks=[StopAfterThree()])
    assert model.optimizer.iterations == 3 and len(history.history["loss"]) == 1


def test_without_batch_hooks_steps_run_many_to_a_call(data, monkeypatch):
    (x, y), _ = data
    from fastmlp import engine as engine_module
    calls = []
    original = engine_module.Engine.train

    def counting(self, *args, **kwargs):
        calls.append(args[5])  # n_steps of each compiled call
        return original(self, *args, **kwargs)
    monkeypatch.setattr(engine_module.Engine, "train", counting)
    model_for().fit(x[:2000], y[:2000], epochs=1, batch_size=32, verbose=0, callbacks=[cbs.History()])
    assert max(calls) > 1 and sum(calls) >= 63


def test_progbar_logger_prints_once(data, capsys):
    (x, y), _ = data
    model_for().fit(x[:64], y[:64], epochs=2, verbose=2, callbacks=[cbs.ProgbarLogger()])
    out = capsys.readouterr().out
    assert out.count("Epoch 1/2") == 1 and out.count("Epoch 2/2") == 1 and out.count("2/2 ") == 2
