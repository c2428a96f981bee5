"""Model configs in Keras's shape ({"class_name": ..., "config": {...}}), both ways.

Writing: the config of a fastmlp model. Reading: a config from a fastmlp, Keras 3 or legacy
Keras file, parsed against what fastmlp has (InputLayer, Flatten, Dense, Activation, ReLU,
LeakyReLU, ELU, Softmax, Dropout, BatchNormalization and their options), never by
instantiating a class a file names. Anything else is a ValueError listing what was found, or
NotImplementedError for a functional graph that is not a single chain.
"""
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Optional, cast

import numpy as np

from fastmlp import activations, initializers
from fastmlp._typing import Config
from fastmlp.layers import (
    ELU,
    Activation,
    BatchNormalization,
    Dense,
    Dropout,
    Flatten,
    InputLayer,
    Layer,
    LeakyReLU,
    ReLU,
    Softmax,
)

if TYPE_CHECKING:
    from fastmlp.models import Model, Sequential


# Layer options that change nothing fastmlp computes when they have these values.
_NEUTRAL = {"quantization_config": (None,), "lora_rank": (None,), "lora_alpha": (None,),
            "data_format": ("channels_last", None), "sparse": (False,), "ragged": (False,),
            "optional": (False,), "batch_size": (None,), "renorm": (False,),
            "renorm_clipping": (None,), "synchronized": (False, True), "noise_shape": (None,),
            "max_value": (None,), "threshold": (0, 0.0), "beta_regularizer": (None,),
            "gamma_regularizer": (None,), "beta_constraint": (None,), "gamma_constraint": (None,)}
# options with no effect given the neutral values above (renorm off)
_IGNORED = {"renorm_momentum"}
_BN_INITIALIZERS = ("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                    "moving_variance_initializer")
_BOOKKEEPING = {"module", "registered_name", "build_config", "name", "dtype", "batch_shape",
                "batch_input_shape", "input_shape", "shared_object_id", "trainable"}
_DENSE_EXTRAS = ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                 "kernel_constraint", "bias_constraint")


def initializer_config(init: initializers.Initializer) -> Config:
    return {"class_name": type(init).__name__, "config": init.get_config()}


def layer_config(layer: Layer) -> Config:
    """{"class_name", "config"} of one layer (fastmlp's own keys; Keras's writer adds its own)."""
    if isinstance(layer, InputLayer):
        return {"class_name": "InputLayer", "config": {"name": layer.name, "dtype": layer.dtype,
                                                       "batch_shape": [None, *layer.shape]}}
    if isinstance(layer, Flatten):
        return {"class_name": "Flatten", "config": {"name": layer.name, "dtype": layer.dtype,
                                                    "data_format": "channels_last"}}
    if isinstance(layer, Dense):
        return {"class_name": "Dense", "config": {
            "name": layer.name, "dtype": layer.dtype, "units": layer.units,
            "activation": layer.activation_name, "use_bias": layer.use_bias,
            "kernel_initializer": initializer_config(layer.kernel_initializer),
            "bias_initializer": initializer_config(layer.bias_initializer),
            "trainable": layer.trainable,
            **{key: value for key, value in layer.get_config().items() if key in _DENSE_EXTRAS}}}
    config = {"name": layer.name, "dtype": layer.dtype, "trainable": layer.trainable}
    if isinstance(layer, (ReLU, LeakyReLU, ELU, Softmax, Activation, Dropout)):
        config.update({k: v for k, v in layer.get_config().items() if k not in ("trainable", "dtype")})
    elif isinstance(layer, BatchNormalization):
        config.update({"axis": -1, "momentum": layer.momentum, "epsilon": layer.epsilon,
                       "center": layer.center, "scale": layer.scale})
        config.update({key: initializer_config(getattr(layer, key)) for key in _BN_INITIALIZERS})
    else:
        raise ValueError(f"layer {layer.name!r} of type {type(layer).__name__} cannot be saved")
    return {"class_name": type(layer).__name__, "config": config}


def model_config(model: "Model") -> Config:
    """The config of a Sequential model: its name, input shape (if known) and layers."""
    layers = [layer_config(layer) for layer in model._all_layers()]
    if model._input_shape is not None and not (layers and layers[0]["class_name"] == "InputLayer"):
        layers.insert(0, {"class_name": "InputLayer", "config": {
            "name": "input_layer", "dtype": model._all_layers()[0].dtype if model._all_layers() else "float32",
            "batch_shape": [None, *model._input_shape]}})
    config: Config = {"name": model.name, "layers": layers}
    if type(model).__name__ == "Functional":  # a chain built with Model(inputs, outputs)
        config["fastmlp_functional"] = True
    return {"class_name": "Sequential", "config": config}


# ----- reading -------------------------------------------------------------------------------------

def _dtype(value: Any, where: str) -> Optional[str]:
    if isinstance(value, dict):  # Keras 3's DTypePolicy
        value = value.get("config", {}).get("name")
    if value is None or value in ("float32", "float64"):
        return None if value is None else str(value)
    raise ValueError(f"{where}: dtype {value!r} is not supported (float32 or float64)")


def _check_options(config: Config, handled: Sequence[str], where: str) -> None:
    odd = {key: value for key, value in config.items()
           if key not in handled and key not in _BOOKKEEPING and key not in _IGNORED
           and not (value in _NEUTRAL[key] if key in _NEUTRAL else value in (None, False))}
    if odd:
        raise ValueError(f"{where}: options fastmlp does not support: {odd}")


def _initializer(spec: Any, where: str) -> initializers.Initializer:
    if isinstance(spec, str) or spec is None:
        return initializers.get(spec or "zeros")
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise ValueError(f"an initializer must be a name or {{class_name, config}}; received {spec!r}")
    return initializers.deserialize(spec["class_name"], spec.get("config") or {})


def _batch_shape(config: Config, where: str) -> Optional[tuple[int, ...]]:
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if shape is None:
        return None
    if (not isinstance(shape, (list, tuple)) or len(shape) < 2
            or not all(isinstance(d, int) and d > 0 for d in shape[1:])):
        raise ValueError(f"{where}: the input shape must be [null, positive sizes...]; received {shape!r}")
    return tuple(shape[1:])


def layer_from_config(spec: Config, where: str) -> tuple[Layer, Optional[tuple[int, ...]]]:
    """(layer, input shape it declares or None) for one {"class_name", "config"} entry."""
    if not isinstance(spec, dict) or not isinstance(spec.get("config", {}), dict):
        raise ValueError(f"{where}: a layer must be {{class_name, config}}; received {type(spec).__name__}")
    kind, config = spec.get("class_name"), spec.get("config", {})
    name = config.get("name")
    where = f"{where} ({kind} {name!r})"
    if name is not None and not isinstance(name, str):
        raise ValueError(f"{where}: the layer name must be a string")
    dtype = _dtype(config.get("dtype"), where)
    shape = _batch_shape(config, where)
    if kind == "InputLayer":
        _check_options(config, (), where)
        if shape is None:
            raise ValueError(f"{where}: an InputLayer needs batch_shape")
        return InputLayer(shape=shape, name=name, dtype=dtype), shape
    if kind == "Flatten":
        _check_options(config, ("data_format",), where)
        return Flatten(name=name, dtype=dtype), shape
    if kind == "Dense":
        _check_options(config, ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer", *_DENSE_EXTRAS), where)
        units = config.get("units")
        activation = _activation_name(config.get("activation", "linear"), where)
        try:
            layer = Dense(units, activation=activation, use_bias=bool(config.get("use_bias", True)),
                          kernel_initializer=_initializer(config.get("kernel_initializer", "glorot_uniform"), where),
                          bias_initializer=_initializer(config.get("bias_initializer", "zeros"), where),
                          name=name, dtype=dtype,
                          trainable=_trainable(config),
                          **{key: config.get(key) for key in _DENSE_EXTRAS})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
        return layer, shape
    reader = _READERS.get(str(kind))
    if reader is None:
        raise ValueError(f"{where}: layer type {kind!r} is not supported; fastmlp reads "
                         f"{', '.join(['InputLayer', 'Flatten', 'Dense', *_READERS])}")
    handled, make = reader
    _check_options(config, handled, where)
    try:
        return make(config, where, name=name, dtype=dtype, trainable=_trainable(config)), shape
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _trainable(config: Config) -> bool:
    value = config.get("trainable", True)
    if not isinstance(value, bool):
        raise ValueError(f"'trainable' must be true or false; received {value!r}")
    return value


def _activation_name(value: Any, where: str) -> str:
    try:
        return activations.name_of(value)
    except ValueError:
        raise ValueError(f"{where}: activation {value!r} is not supported; fastmlp has "
                         f"{sorted(activations.NAMES)}") from None


def _axis(config: Config) -> int:
    """Keras 2 wrote a BatchNormalization's axis as a list ([1]); 1 and -1 are the features of
    samples of one dimension."""
    axis = config.get("axis", -1)
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    return -1 if axis in (-1, 1) else axis


def _number_option(config: Config, key: str, default: Optional[float]) -> Any:
    value = config.get(key, default)
    return default if value is None and key == "alpha" else value


# class name -> (the options its reader handles, reader(config, where, **common) -> layer)
_READERS: dict[str, tuple[tuple[str, ...], Callable[..., Layer]]] = {
    "Activation": (("activation",), lambda c, w, **kw: Activation(_activation_name(c.get("activation"), w), **kw)),
    "ReLU": (("negative_slope",), lambda c, w, **kw: ReLU(negative_slope=c.get("negative_slope", 0.0), **kw)),
    # Keras 2 wrote a LeakyReLU's slope as alpha
    "LeakyReLU": (("negative_slope", "alpha"),
                  lambda c, w, **kw: LeakyReLU(negative_slope=c.get("negative_slope", c.get("alpha", 0.3)), **kw)),
    "ELU": (("alpha",), lambda c, w, **kw: ELU(alpha=_number_option(c, "alpha", 1.0), **kw)),
    "Softmax": (("axis",), lambda c, w, **kw: Softmax(axis=c.get("axis", -1), **kw)),
    "Dropout": (("rate", "seed"), lambda c, w, **kw: Dropout(c.get("rate"), seed=c.get("seed"), **kw)),
    "BatchNormalization": (
        ("axis", "momentum", "epsilon", "center", "scale", *_BN_INITIALIZERS),
        lambda c, w, **kw: BatchNormalization(
            axis=_axis(c), momentum=c.get("momentum", 0.99), epsilon=c.get("epsilon", 1e-3),
            center=bool(c.get("center", True)), scale=bool(c.get("scale", True)),
            **{key: cast(Any, _initializer(c.get(key, default), w)) for key, default in
               zip(_BN_INITIALIZERS, ("zeros", "ones", "zeros", "ones"))}, **kw)),
}


def _inbound(entry: Config) -> list[str]:
    """The names of the layers feeding a functional layer (Keras 3 and Keras 2 node formats)."""
    names = []
    for node in entry.get("inbound_nodes") or []:
        if isinstance(node, dict):  # Keras 3: {"args": [keras_tensor...], "kwargs": {}}
            for arg in node.get("args", []):
                history = arg.get("config", {}).get("keras_history") if isinstance(arg, dict) else None
                names.append(history[0] if history else "?")
            if node.get("kwargs"):
                names.append("?")
        else:  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
            names.extend(item[0] if isinstance(item, list) and item else "?" for item in node)
    return names


def _chain(config: Config, where: str) -> list[Config]:
    """The layers of a functional config in chain order, or NotImplementedError naming the node
    where the graph branches, merges or reuses a layer."""
    entries = config.get("layers")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{where}: a functional model needs layers")
    by_name = {}
    for entry in entries:
        name = entry.get("name") or entry.get("config", {}).get("name")
        if name in by_name:
            raise NotImplementedError(f"{where}: layer {name!r} appears twice")
        by_name[name] = entry
    inputs, outputs = config.get("input_layers"), config.get("output_layers")

    def names(spec: Any) -> list[str]:  # [[name, 0, 0]] / [name, 0, 0] / {"...": [name, 0, 0]}
        if isinstance(spec, list) and spec and isinstance(spec[0], str):
            return [spec[0]]
        if isinstance(spec, list):
            return [item[0] for item in spec if isinstance(item, list) and item]
        raise NotImplementedError(f"{where}: inputs/outputs given as {type(spec).__name__}")
    ins, outs = names(inputs), names(outputs)
    if len(ins) != 1 or len(outs) != 1:
        raise NotImplementedError(f"{where}: fastmlp loads single-input single-output chains; this "
                                  f"model has inputs {ins} and outputs {outs}")
    consumers: dict[str, list[str]] = {name: [] for name in by_name}
    for name, entry in by_name.items():
        feeds = _inbound(entry)
        if len(feeds) > 1 or (len(feeds) == 1 and feeds[0] not in by_name):
            raise NotImplementedError(f"{where}: node {name!r} takes inputs {feeds}; fastmlp "
                                      "loads chains of single-input layers only")
        if len(entry.get("inbound_nodes") or []) > 1:
            raise NotImplementedError(f"{where}: layer {name!r} is called more than once")
        for feed in feeds:
            consumers[feed].append(name)
    order, current = [], ins[0]
    while True:
        order.append(by_name[current])
        nxt = consumers[current]
        if len(nxt) > 1:
            raise NotImplementedError(f"{where}: node {current!r} feeds {nxt}: the graph branches")
        if not nxt:
            break
        current = nxt[0]
    if current != outs[0] or len(order) != len(by_name):
        unused = sorted(set(by_name) - {e.get("name") or e["config"].get("name") for e in order})
        raise NotImplementedError(f"{where}: the chain from {ins[0]!r} ends at {current!r}, not at the "
                                  f"output {outs[0]!r}{f'; layers off the chain: {unused}' if unused else ''}")
    return order


def model_from_config(spec: Any, where: str) -> tuple["Sequential", Optional[tuple[int, ...]]]:
    """A Sequential model (unbuilt: no weights drawn) from a Sequential or functional-chain config.
    Returns (model, input shape or None)."""
    from fastmlp.models import Functional, Sequential
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ValueError(f"{where}: the model config must be {{class_name, config}}")
    kind, config = spec.get("class_name"), spec["config"]
    if kind == "Sequential":
        entries = config.get("layers")
        if not isinstance(entries, list):
            raise ValueError(f"{where}: a Sequential config needs a list of layers")
    elif kind in ("Functional", "Model"):
        entries = _chain(config, where)
    else:
        raise ValueError(f"{where}: model type {kind!r} is not supported (Sequential, or a "
                         "functional chain)")
    layers, input_shape = [], None
    for i, entry in enumerate(entries):
        layer, shape = layer_from_config(entry, f"{where}, layer {i}")
        if input_shape is None and shape is not None:
            input_shape = shape
        layers.append(layer)
    name = config.get("name")
    name = name if isinstance(name, str) and name else None
    if config.get("fastmlp_functional") is True or kind in ("Functional", "Model"):
        model: Sequential = Functional.__new__(Functional)  # the same chain, listed with its InputLayer
        Sequential.__init__(model, name=name)
    else:
        model = Sequential(name=name)
    for layer in layers:
        layer._input_shape = None  # the model's input shape is set once, below
        model._add_unbuilt(layer)
    model._input_shape = input_shape
    return model, input_shape


def planned_weights(model: "Model") -> list[tuple[Layer, list[tuple[int, ...]]]]:
    """(layer, shapes of its weights in Keras's order) for each layer with weights of an unbuilt
    model with an input shape, from its config alone: what its weights must be, known before
    anything is allocated."""
    shape = model._input_shape
    out: list[tuple[Layer, list[tuple[int, ...]]]] = []
    if shape is None:
        return out
    for layer in model._all_layers():
        if len(shape) == 1:
            specs = layer.weight_specs(shape)
            if specs:
                out.append((layer, [tuple(s) for _, s, _ in specs]))
        elif isinstance(layer, (Dense, BatchNormalization)):
            out.append((layer, [(-1,)]))  # refused at build (Flatten first)
        shape = layer.compute_output_shape(shape)
    return out


def planned_shapes(model: "Model") -> list[list[tuple[int, ...]]]:
    """The weight shapes of planned_weights, without the layers (to compare architectures)."""
    return [shapes for _, shapes in planned_weights(model)]


def planned_size(model: "Model") -> int:
    """The number of weights the model's config implies (Python integers: no overflow)."""
    return sum(int(np.prod(s, dtype=object)) for shapes in planned_shapes(model) for s in shapes)
