"""Keras 3 model files (`*.keras`) both ways, and Keras's `*.weights.h5`, without TensorFlow.

A `.keras` file is a zip of `metadata.json`, `config.json` (the model's config, with
`compile_config`) and `model.weights.h5`, where weights are keyed by each layer's object path:
`layers/<snake_case class name>[_<n>]/vars/<i>`, counted over `model.layers` in order (a
Sequential's layers without its InputLayer, a functional model's with it), then
`optimizer/vars/0` (iterations), `vars/1` (learning rate, unless it is a schedule) and the optimizer's slots, per variable
in get_weights order (Adam: momentum and velocity of each variable in turn; RMSprop: every
velocity, then every momentum). HDF5 goes through h5py; configs are parsed, never executed.
"""
import io
import json
import time
import warnings
import zipfile
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from fastmlp import metrics as metrics_module
from fastmlp import naming
from fastmlp._kernels.optim import NadamRule, UpdateRule
from fastmlp._typing import Config, PathLike
from fastmlp.layers import Activation, BatchNormalization, Dense, Dropout, Flatten, InputLayer, Layer
from fastmlp.optimizers import Optimizer
from fastmlp.saving.atomic import atomic_write
from fastmlp.saving.config import layer_config, model_from_config, planned_weights

if TYPE_CHECKING:
    from fastmlp.models import Model

KERAS_VERSION = "3.15.1"  # the version whose layout this writes (and whose files the tests read)
MAX_CONFIG_BYTES = 16 << 20


def h5py() -> Any:
    """h5py, or an ImportError that says which extra brings it."""
    try:
        import h5py as module
    except ImportError as exc:
        raise ImportError('Keras model files (.keras, .h5) need h5py: pip install "fastmlp[keras]"') from exc
    return module


# ----- object paths -----------------------------------------------------------------------------

def layer_paths(layers: Iterable[Layer]) -> list[str]:
    """Keras's object path of each layer: its class name in snake case, then _1, _2, ..."""
    counts: dict[str, int] = {}
    paths: list[str] = []
    for layer in layers:
        base = naming.snake_case(type(layer).__name__)
        n = counts.get(base, 0)
        counts[base] = n + 1
        paths.append(base if n == 0 else f"{base}_{n}")
    return paths


def _slot_order(optimizer: Optimizer, n_slots: int, n_vars: int) -> list[tuple[int, int]]:
    """(slot, variable) pairs in the order Keras stores an optimizer's variables: Adam's
    (AdamW's, Nadam's) momentum and velocity per variable in turn, then AMSGrad's velocity
    maxima; the others slot by slot."""
    if type(optimizer).__name__ in ("Adam", "AdamW", "Nadam"):
        return ([(s, k) for k in range(n_vars) for s in range(2)]
                + [(s, k) for s in range(2, n_slots) for k in range(n_vars)])
    return [(s, k) for s in range(n_slots) for k in range(n_vars)]


def _first_slot(optimizer: Optimizer) -> int:
    """Where the slots start among Keras's optimizer variables: after iterations and the
    learning rate, which is no variable when it is a schedule."""
    return 1 if optimizer._schedule is not None else 2


def _extra_variables(rule: UpdateRule) -> int:
    """Scalars Keras keeps after the slots: Nadam's product of momentum factors."""
    return 1 if isinstance(rule, NadamRule) else 0


def optimizer_variables(model: "Model") -> list[np.ndarray]:
    """Views of the rule's slots in the order Keras stores its optimizer's variables (after
    iterations and learning rate): one per (slot, weight) pair. SGD without momentum has none."""
    optimizer, rule, engine = model.optimizer, model._rule, model.engine
    if rule is None or (type(optimizer).__name__ == "SGD" and optimizer.momentum == 0):
        return []
    per_slot = [[w for i in range(len(engine.steps)) for w in engine.trainable_views(i, slot)]
                for slot in rule.slots]
    order = _slot_order(optimizer, len(per_slot), len(per_slot[0]) if per_slot else 0)
    return [per_slot[s][k] for s, k in order]


# ----- writing ----------------------------------------------------------------------------------

def _dtype_policy(dtype: str) -> Config:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype},
            "registered_name": None}


def _keras_layer(layer: Layer, input_shape: tuple[int, ...]) -> Config:
    ours = layer_config(layer)["config"]
    kind = type(layer).__name__
    if isinstance(layer, InputLayer):
        return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                "config": {"batch_shape": ours["batch_shape"], "dtype": layer.dtype, "sparse": False,
                           "ragged": False, "name": layer.name, "optional": False}}
    def init(spec: Config) -> Config:
        return {"module": "keras.initializers", "class_name": spec["class_name"],
                "config": spec["config"], "registered_name": None}

    config: Config = {"name": layer.name, "trainable": layer.trainable, "dtype": _dtype_policy(layer.dtype)}
    if isinstance(layer, Flatten):
        config["data_format"] = "channels_last"
    elif isinstance(layer, Dense):
        config.update({"units": layer.units, "activation": layer.activation_name,
                       "use_bias": layer.use_bias,
                       "kernel_initializer": init(ours["kernel_initializer"]),
                       "bias_initializer": init(ours["bias_initializer"]),
                       "kernel_regularizer": ours["kernel_regularizer"],
                       "bias_regularizer": ours["bias_regularizer"],
                       "kernel_constraint": ours["kernel_constraint"],
                       "bias_constraint": ours["bias_constraint"]})
        if ours["activity_regularizer"] is not None:
            config["activity_regularizer"] = ours["activity_regularizer"]
    elif isinstance(layer, BatchNormalization):
        config.update({key: (init(value) if key.endswith("_initializer") else value)
                       for key, value in ours.items() if key not in ("name", "dtype", "trainable")})
        config.update({"beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
                       "gamma_constraint": None, "synchronized": False, "renorm": False,
                       "renorm_clipping": None, "renorm_momentum": 0.99})
    elif isinstance(layer, (Activation, Dropout)):
        config.update({key: value for key, value in ours.items() if key not in ("name", "dtype", "trainable")})
    else:
        raise ValueError(f"layer {layer.name!r} ({kind}) has no Keras counterpart fastmlp can write")
    return {"module": "keras.layers", "class_name": kind, "config": config, "registered_name": None,
            "build_config": {"input_shape": [None, *input_shape]}}


def keras_config(model: "Model", include_optimizer: bool = True) -> Config:
    """The config.json Keras 3 writes for this Sequential model."""
    shape = input_shape = model._built_shape
    layers = [_keras_layer(InputLayer(shape=shape, name="input_layer", dtype=model.dtype), shape)]
    for layer in model._computing_layers():
        layers.append(_keras_layer(layer, shape))
        shape = layer._built_output_shape
    config: Config = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": model.name, "trainable": True, "dtype": _dtype_policy(model.dtype),
                         "layers": layers, "build_input_shape": [None, *input_shape]},
              "build_config": {"input_shape": [None, *input_shape]}}
    if model.compiled:
        optimizer = model.optimizer
        config["compile_config"] = {
            "optimizer": {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
                          "config": optimizer.get_config(), "registered_name": None},
            "loss": model.loss.default_name, "loss_weights": None,
            "metrics": [metrics_module.serialize(spec) for spec in model._metrics] or None,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": False}
    return config


def _write_weights_h5(model: "Model", out: BinaryIO, include_optimizer: bool) -> None:
    h5 = h5py()
    with h5.File(out, "w") as f:
        layers_group = f.create_group("layers")
        computing = model._computing_layers()
        for layer, path in zip(computing, layer_paths(computing)):
            group = layers_group.create_group(path).create_group("vars")
            group.attrs["name"] = layer.name
            for i, array in enumerate(model._layer_weights(layer)):
                group.create_dataset(str(i), data=array)
        f.create_group("vars").attrs["name"] = model.name
        if include_optimizer and model.compiled and model._rule is not None:
            group = f.create_group("optimizer").create_group("vars")
            group.attrs["name"] = model.optimizer.name
            rule = model._rule
            group.create_dataset("0", data=np.int64(rule.iterations))
            first = _first_slot(model.optimizer)
            if first == 2:
                group.create_dataset("1", data=np.float32(model.optimizer.learning_rate))
            variables = optimizer_variables(model)
            for index, variable in enumerate(variables, start=first):
                group.create_dataset(str(index), data=variable)
            if isinstance(rule, NadamRule):
                group.create_dataset(str(first + len(variables)), data=np.float32(rule.u_product))


def save(model: "Model", filepath: PathLike, include_optimizer: bool = True) -> None:
    """Writes a Keras 3 `.keras` file that keras.models.load_model opens (atomically)."""
    config = keras_config(model, include_optimizer)
    weights = io.BytesIO()
    _write_weights_h5(model, weights, include_optimizer)
    metadata = {"keras_version": KERAS_VERSION, "date_saved": time.strftime("%Y-%m-%d@%H:%M:%S")}
    with atomic_write(filepath) as out, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights.getvalue(), compress_type=zipfile.ZIP_STORED)


def save_weights(model: "Model", filepath: PathLike) -> None:
    """Keras's `*.weights.h5` (the model.weights.h5 of a .keras file, on its own)."""
    model._require_built()
    buffer = io.BytesIO()
    _write_weights_h5(model, buffer, include_optimizer=False)
    with atomic_write(filepath) as out:
        out.write(buffer.getvalue())


# ----- reading ----------------------------------------------------------------------------------

def _read_layer_weights(model: "Model", f: Any, label: str, functional: bool) -> None:
    """Sets the weights of `model` (built here, unless it is already) from the `layers/...`
    group of a Keras 3 weights file; every shape is checked against the architecture first."""
    keras_layers = model._all_layers() if functional else model._computing_layers()
    planned = {id(layer): shapes for layer, shapes in planned_weights(model)}
    datasets = []
    for layer, path in zip(keras_layers, layer_paths(keras_layers)):
        wanted = planned.get(id(layer))
        if not wanted:
            continue
        key = f"layers/{path}/vars"
        if key not in f:
            raise ValueError(f"{label}: no weights for layer {layer.name!r} at {key}")
        group = f[key]
        if sorted(group.keys()) != sorted(str(i) for i in range(len(wanted))):
            raise ValueError(f"{label}: layer {layer.name!r} has variables {sorted(group.keys())} at "
                             f"{key}; a {type(layer).__name__} of this config has {len(wanted)}")
        for i, want in enumerate(wanted):
            if tuple(group[str(i)].shape) != want:
                raise ValueError(f"{label}: {key}/{i} has shape {tuple(group[str(i)].shape)}; layer "
                                 f"{layer.name!r} needs {want}")
            datasets.append(group[str(i)])
    if not model.built:
        model._build_for_loading()
    model.set_weights([np.asarray(d[()]) for d in datasets])


def _read_optimizer(model: "Model", f: Any, label: str) -> None:
    if "optimizer/vars" not in f or not model.compiled:
        return
    group = f["optimizer/vars"]
    engine = model.engine
    rule = engine.new_rule(model.optimizer)
    model._rule = rule
    variables = optimizer_variables(model)
    extra = _extra_variables(rule)
    first = _first_slot(model.optimizer)
    if sorted(group.keys(), key=int) != [str(i) for i in range(first + len(variables) + extra)]:
        warnings.warn(f"{label}: its optimizer variables do not match a {type(model.optimizer).__name__} "
                      "of this model; the optimizer starts afresh", stacklevel=2)
        return
    for index, view in enumerate(variables, start=first):
        dataset = group[str(index)]
        if tuple(dataset.shape) != view.shape:
            warnings.warn(f"{label}: optimizer variable {index} has shape {tuple(dataset.shape)}, "
                          f"expected {view.shape}; the optimizer starts afresh", stacklevel=2)
            model._rule = engine.new_rule(model.optimizer)
            return
        view[...] = dataset[()]
    if isinstance(rule, NadamRule):
        u_product = float(np.asarray(group[str(first + len(variables))][()]))
        if not 0 < u_product <= 1:
            warnings.warn(f"{label}: Nadam's momentum product {u_product} is not in (0, 1]; the "
                          "optimizer starts afresh", stacklevel=2)
            model._rule = engine.new_rule(model.optimizer)
            return
        rule.u_product = u_product
    rule.iterations = int(group["0"][()])


def compile_from(model: "Model", compile_config: Any, label: str) -> bool:
    """Restores Keras's compile settings where fastmlp has them; warns and leaves the model
    uncompiled (it still predicts) where it does not."""
    from fastmlp import optimizers
    try:
        spec = compile_config["optimizer"]
        optimizer = optimizers.deserialize(spec["class_name"], spec.get("config") or {})
        metrics = compile_config.get("metrics")
        model.compile(optimizer=optimizer, loss=compile_config["loss"], metrics=metrics or None)
        return True
    except (KeyError, TypeError, ValueError) as exc:
        warnings.warn(f"{label}: its compile settings are not ones fastmlp has ({exc}); the model is "
                      "loaded uncompiled: compile it before fit", stacklevel=2)
        return False


def load(filepath: PathLike, compile: bool = True) -> "Model":
    """A Keras 3 `.keras` file as a fastmlp model (Sequential or functional chain)."""
    label = str(filepath)
    try:
        archive = zipfile.ZipFile(filepath)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{label} is not a Keras 3 model file (not a readable zip: {exc})") from None
    with archive:
        names = set(archive.namelist())
        missing = {"config.json", "model.weights.h5"} - names
        if missing:
            raise ValueError(f"{label} is not a Keras 3 model file: {sorted(missing)} missing (it has "
                             f"{sorted(names)})")
        if archive.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
            raise ValueError(f"{label}: config.json is over {MAX_CONFIG_BYTES} bytes")
        try:
            config = json.loads(archive.read("config.json"))
            weights = archive.read("model.weights.h5")
        except (ValueError, zipfile.BadZipFile, OSError) as exc:
            raise ValueError(f"{label}: cannot read its config or weights ({exc})") from None
    model, _ = model_from_config(config, label)
    if not model._ready_to_build():
        raise ValueError(f"{label}: the model has no input shape or no Dense layer")
    try:
        with h5py().File(io.BytesIO(weights), "r") as f:
            _read_layer_weights(model, f, label, config.get("class_name") != "Sequential")
            if (compile and isinstance(config.get("compile_config"), dict)
                    and compile_from(model, config["compile_config"], label)):
                _read_optimizer(model, f, label)
    except OSError as exc:
        raise ValueError(f"{label}: model.weights.h5 is not a readable HDF5 file ({exc})") from None
    return model


def load_weights(model: "Model", filepath: PathLike) -> None:
    """Keras's `*.weights.h5` (or fastmlp's, written by save_weights) into a built model."""
    model._require_built()
    label = str(filepath)
    try:
        with h5py().File(filepath, "r") as f:
            _read_layer_weights(model, f, label, functional=False)
    except OSError as exc:
        raise ValueError(f"{label} is not a readable HDF5 weights file ({exc})") from None
