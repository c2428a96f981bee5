"""Makes tests/data/keras_layers_golden.json and tests/data/keras_layers.keras with real Keras:
the oracle for fastmlp's activations, activation layers, Dropout and BatchNormalization, so CI
checks parity without TensorFlow.

Run once, in an environment with Keras 3 and TensorFlow (`pip install keras tensorflow-cpu`),
from the repository root:

    python tests/data/make_keras_layers_golden.py

It does not import fastmlp. What it records, all float32 from weights and inputs given by
formulas (golden_inputs):
- per activation (each name fastmlp has): a Dense(5, activation) model's predictions, and its
  weights after one SGD(0.1) step of mean squared error over the whole batch, which checks the
  compiled gradient of the activation against TensorFlow's;
- a chain Dense -> BatchNormalization -> Dropout(rate 0.3) -> Dense -> LeakyReLU -> Dense softmax,
  layer by layer, with its predictions (inference: moving statistics, no dropout), and, with the
  dropout rate 0 (masks are not comparable across libraries), its loss and all its weights
  (moving statistics included) after two SGD(0.05) fit steps of batch 16 without shuffling;
- the same chain saved by Keras as keras_layers.keras, with its predictions, for the loader;
- a regularized chain (kernel, bias and activity penalties, the three constraints, a frozen
  Dense and a frozen BatchNormalization): its evaluate loss, and its loss and weights after
  one epoch of SGD(0.1) fit, batch 16, no shuffling;
- sample and class weights: a Dense chain's loss and weights after a weighted epoch
  (sample_weight, then class_weight, with sparse labels and with one-hot targets), and a
  weighted evaluate;
- several metrics (their log names, evaluate's order and values, an epoch's history with
  validation), one-hot and sparse targets.
"""
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "selu", "gelu",
               "softplus", "softsign", "silu", "hard_sigmoid", "exponential"]


def formula(shape, k, scale=1.0):
    n = int(np.prod(shape))
    return (scale * np.sin(0.37 * np.arange(n) + k)).reshape(shape).astype(np.float32)


def golden_inputs():
    """x (32, 6) and targets (32, 5), labels (32,) from formulas."""
    x = formula((32, 6), 0.3, 1.5)
    targets = formula((32, 5), 1.1, 0.5)
    labels = (np.arange(32) * 7 % 3).astype(np.int32)
    return x, targets, labels


def activation_weights():
    return [formula((6, 5), 2.0, 0.6), formula((5,), 3.0, 0.2)]


def chain_weights():
    """Dense(6->8), BN(8): gamma, beta, moving mean, moving variance, Dense(8->4), Dense(4->3)."""
    return [formula((6, 8), 4.0, 0.5), formula((8,), 5.0, 0.1),
            1 + formula((8,), 6.0, 0.2), formula((8,), 7.0, 0.1), formula((8,), 8.0, 0.3),
            1.5 + formula((8,), 9.0, 0.4),
            formula((8, 4), 10.0, 0.5), formula((4,), 11.0, 0.1),
            formula((4, 3), 12.0, 0.6), formula((3,), 13.0, 0.1)]


def main():
    import keras
    x, targets, labels = golden_inputs()
    out = {"keras_version": keras.__version__, "activations": {}}
    for name in ACTIVATIONS:
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation=name)])
        model.set_weights(activation_weights())
        predictions = model.predict(x, verbose=0)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.fit(x, targets, batch_size=32, epochs=1, shuffle=False, verbose=0)
        out["activations"][name] = {"predictions": predictions.tolist(),
                                    "weights_after_step": [w.tolist() for w in model.get_weights()]}

    def chain(rate):
        return keras.Sequential([
            keras.Input((6,)), keras.layers.Dense(8), keras.layers.BatchNormalization(momentum=0.9),
            keras.layers.Dropout(rate), keras.layers.Dense(4), keras.layers.LeakyReLU(),
            keras.layers.Dense(3, activation="softmax")])

    model = chain(0.3)
    model.set_weights(chain_weights())
    out["chain_predictions"] = model.predict(x, verbose=0).tolist()
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    model.save(HERE / "keras_layers.keras")
    trained = chain(0.0)
    trained.set_weights(chain_weights())
    trained.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    history = trained.fit(x, labels, batch_size=16, epochs=1, shuffle=False, verbose=0)
    out["chain_fit"] = {"loss": history.history["loss"][0],
                        "weights": [w.tolist() for w in trained.get_weights()]}
    regularized = regularized_chain(keras)
    regularized.set_weights(regularized_weights())
    regularized.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    out["regularized_evaluate"] = regularized.evaluate(x, labels, batch_size=16, verbose=0)
    history = regularized.fit(x, labels, batch_size=16, epochs=1, shuffle=False, verbose=0)
    out["regularized_fit"] = {"loss": history.history["loss"][0],
                              "weights": [w.tolist() for w in regularized.get_weights()]}
    sample_weight = (np.arange(32) % 5 * 0.5).astype(np.float32)
    class_weight = {0: 0.5, 1: 2.0, 2: 1.5}
    out["weighted"] = {}
    for case, loss, y, kwargs in (
            ("sample_weight", "sparse_categorical_crossentropy", labels, {"sample_weight": sample_weight}),
            ("class_weight", "sparse_categorical_crossentropy", labels, {"class_weight": class_weight}),
            ("class_weight_one_hot", "categorical_crossentropy", np.eye(3, dtype=np.float32)[labels],
             {"class_weight": class_weight})):
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="tanh"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.set_weights(weighted_weights())
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        evaluated = model.evaluate(x, y, batch_size=8, sample_weight=sample_weight, verbose=0)
        history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, **kwargs)
        out["weighted"][case] = {"evaluate": evaluated, "loss": history.history["loss"][0],
                                 "weights": [w.tolist() for w in model.get_weights()]}
    out["metrics"] = {}
    for case, loss, y, metrics in metric_cases(keras, labels):
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="tanh"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.set_weights(weighted_weights())
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, metrics=metrics)
        evaluated = model.evaluate(x, y, batch_size=8, verbose=0)
        history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, validation_data=(x, y))
        out["metrics"][case] = {"evaluate": evaluated, "history": history.history}
    (HERE / "keras_layers_golden.json").write_text(json.dumps(out))


def metric_cases(keras, labels):
    """(case, loss, y, metrics): the same code makes them for Keras and for fastmlp."""
    one_hot = np.eye(3, dtype=np.float32)[labels]
    return [("one_hot", "categorical_crossentropy", one_hot,
             ["mse", "mae", "acc", "top_k_categorical_accuracy",
              keras.metrics.TopKCategoricalAccuracy(k=2, name="top2"), "mean_squared_error"]),
            ("sparse", "sparse_categorical_crossentropy", labels,
             ["accuracy", "sparse_top_k_categorical_accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=1),
              keras.metrics.SparseTopKCategoricalAccuracy(k=2)])]


def weighted_weights():
    return [formula((6, 5), 26.0, 0.5), formula((5,), 27.0, 0.1), formula((5, 3), 28.0, 0.6),
            formula((3,), 29.0, 0.1)]


def regularized_chain(keras):
    """The same code builds it in Keras and in fastmlp (`keras` is either module)."""
    r, c = keras.regularizers, keras.constraints
    return keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(8, activation="relu", kernel_regularizer=r.L1L2(l1=0.01, l2=0.02),
                           bias_regularizer=r.L2(0.05), activity_regularizer=r.L1(0.01),
                           kernel_constraint=c.MaxNorm(0.6)),
        keras.layers.Dense(8, activation="tanh", trainable=False),
        keras.layers.BatchNormalization(trainable=False),
        keras.layers.Dense(5, activation="selu", activity_regularizer=r.L2(0.02),
                           kernel_constraint=c.UnitNorm(), bias_constraint=c.NonNeg()),
        keras.layers.Dense(3, activation="softmax", kernel_regularizer="l2")])


def regularized_weights():
    return [formula((6, 8), 14.0, 0.5), formula((8,), 15.0, 0.1),
            formula((8, 8), 16.0, 0.5), formula((8,), 17.0, 0.1),
            1 + formula((8,), 18.0, 0.2), formula((8,), 19.0, 0.1), formula((8,), 20.0, 0.3),
            1.5 + formula((8,), 21.0, 0.4),
            formula((8, 5), 22.0, 0.5), formula((5,), 23.0, 0.1),
            formula((5, 3), 24.0, 0.6), formula((3,), 25.0, 0.1)]


if __name__ == "__main__":
    main()
