"""Makes docs/keras_names.json with real Keras: every public name of the Keras modules a
tutorial uses, and the arguments of the Model methods, for the Keras compatibility page (the
docs build compares them with fastmlp's code; see docs/hooks.py).

Run once per Keras release, in an environment with Keras 3 (pip install keras tensorflow-cpu):

    python docs/make_keras_names.py
"""
import inspect
import json
from pathlib import Path

MODULES = ["layers", "activations", "losses", "metrics", "optimizers", "optimizers.schedules",
           "callbacks", "regularizers", "constraints", "initializers", "datasets", "models",
           "utils", "config"]
METHODS = ["compile", "fit", "evaluate", "predict", "predict_on_batch", "summary", "save",
           "save_weights", "load_weights", "get_weights", "set_weights", "count_params",
           "train_on_batch", "test_on_batch", "get_layer", "to_json", "get_config", "add", "pop",
           "build", "export", "__call__"]


def main():
    import keras
    names = {}
    for module in MODULES:
        obj = keras
        for part in module.split("."):
            obj = getattr(obj, part)
        names[module] = sorted(n for n in dir(obj) if not n.startswith("_"))
    methods = {}
    for method in METHODS:
        fn = getattr(keras.Sequential, method, None)
        if fn is None:
            continue
        try:
            params = [p for p in inspect.signature(fn).parameters if p not in ("self", "args", "kwargs")]
        except (TypeError, ValueError):
            params = []
        methods[method] = params
    out = {"keras_version": keras.__version__, "modules": names, "methods": methods}
    Path(__file__).with_name("keras_names.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
