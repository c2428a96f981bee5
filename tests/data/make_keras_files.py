"""Makes the Keras model files fastmlp's loader is tested on, with real Keras 3 (run once, in an
environment with keras and tensorflow-cpu; does not import fastmlp):

    python tests/data/make_keras_files.py

Writes, beside this script, for each model: NAME.keras (Keras 3 format) and NAME.h5 (legacy
HDF5), plus keras_files.json with the inputs and Keras's predictions for each. The models are
small (the files are committed) and cover what fastmlp reads: Sequential and functional chains,
InputLayer, Flatten, Dense with each activation, with and without bias, trained a few Adam steps
so that the files carry optimizer state.
"""
import json
import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def models(keras):
    layers = keras.layers
    out = {}
    out["seq_dense"] = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(16, activation="relu"),
                                         layers.Dense(3, activation="softmax")], name="seq_dense")
    out["seq_flatten"] = keras.Sequential([keras.Input(shape=(4, 2)), layers.Flatten(),
                                           layers.Dense(5, activation="tanh", use_bias=False,
                                                        kernel_initializer="he_normal", name="hidden"),
                                           layers.Dense(1, activation="sigmoid", name="out")],
                                          name="seq_flatten")
    inp = keras.Input(shape=(6,), name="features")
    x = layers.Dense(7, activation="sigmoid")(inp)
    x = layers.Dense(4, activation="linear")(x)
    out["functional_chain"] = keras.Model(inputs=inp, outputs=layers.Dense(2, activation="softmax")(x),
                                          name="functional_chain")
    return out


def main():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    record = {"keras_version": keras.__version__, "models": {}}
    for name, model in models(keras).items():
        shape = tuple(model.input_shape[1:])
        x = rng.standard_normal((16, *shape)).astype(np.float32)
        units = model.output_shape[-1]
        y = rng.integers(0, 2, (16, units)).astype(np.float32) if units > 1 else rng.integers(0, 2, 16)
        model.compile(optimizer="adam", loss="categorical_crossentropy" if units > 1 else "binary_crossentropy")
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        model.save(HERE / f"{name}.keras")
        model.save(HERE / f"{name}.h5")
        record["models"][name] = {"x": x.tolist(), "predictions": np.asarray(model.predict(x, verbose=0)).tolist(),
                                  "iterations": int(model.optimizer.iterations.numpy())}
    (HERE / "keras_files.json").write_text(json.dumps(record) + "\n")
    print("wrote", sorted(p.name for p in HERE.iterdir()))


if __name__ == "__main__":
    main()
