"""Legacy Keras HDF5 model files (`*.h5`, Keras 2 and Keras 3's legacy writer), read only.

Root attributes `model_config` and `training_config` (JSON); weights at
`model_weights/<layer name>/...`, listed in order by the group's `weight_names` attribute
(kernel, then bias). The optimizer's slots are not read: the optimizer starts afresh.
"""
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from fastmlp._typing import PathLike
from fastmlp.saving.config import model_from_config, planned_weights
from fastmlp.saving.keras_v3 import compile_from, h5py

if TYPE_CHECKING:
    from fastmlp.models import Model


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def load(filepath: PathLike, compile: bool = True) -> "Model":
    """A legacy `.h5` Keras model as a fastmlp model (Sequential or functional chain)."""
    label = str(filepath)
    h5 = h5py()
    try:
        f = h5.File(filepath, "r")
    except OSError as exc:
        raise ValueError(f"{label} is not a readable HDF5 file ({exc})") from None
    with f:
        if "model_config" not in f.attrs:
            raise ValueError(f"{label} has no model_config: it holds weights only, or is not a Keras "
                             "model file")
        try:
            config = json.loads(_text(f.attrs["model_config"]))
        except ValueError as exc:
            raise ValueError(f"{label}: model_config is not valid JSON ({exc})") from None
        model, _ = model_from_config(config, label)
        if not model._ready_to_build():
            raise ValueError(f"{label}: the model has no input shape or no Dense layer")
        group = f.get("model_weights", f)
        datasets = []
        for layer, wanted in planned_weights(model):
            if layer.name not in group:
                raise ValueError(f"{label}: no weights for layer {layer.name!r} in {group.name}")
            layer_group = group[layer.name]
            names = [_text(n) for n in layer_group.attrs.get("weight_names", [])]
            if len(names) != len(wanted):
                raise ValueError(f"{label}: layer {layer.name!r} lists weights {names}; it needs "
                                 f"{len(wanted)}")
            for name, want in zip(names, wanted):
                if name not in layer_group or tuple(layer_group[name].shape) != want:
                    found = tuple(layer_group[name].shape) if name in layer_group else "nothing"
                    raise ValueError(f"{label}: {layer.name}/{name} has shape {found}; the layer "
                                     f"needs {want}")
                datasets.append(layer_group[name])
        model._build_for_loading()  # only now that every stored shape fits the architecture
        arrays = [np.asarray(d[()]) for d in datasets]
        model.set_weights(arrays)
        training = f.attrs.get("training_config")
        if compile and training is not None:
            try:
                training = json.loads(_text(training))
            except ValueError:
                training = None
            if isinstance(training, dict) and isinstance(training.get("optimizer_config"), dict):
                compile_from(model, {"optimizer": training["optimizer_config"],
                                      "loss": training.get("loss"), "metrics": training.get("metrics")}, label)
    return model
