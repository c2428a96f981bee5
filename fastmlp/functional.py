"""The functional API for chains: `Input` returns a symbolic tensor, calling a layer on one
returns the next, and `Model(inputs=..., outputs=...)` builds the chain between them.

A functional model is a Sequential underneath (same engine, same speed, same weights order);
it lists its InputLayer among its layers, as Keras does. A graph that is not a single chain (a
layer called twice, several inputs or outputs) is a NotImplementedError naming the layer: never
a different model than the one written.
"""
from typing import Any, Optional

from fastmlp.layers import InputLayer, Layer


class KerasTensor:
    """A symbolic tensor: the output of `Input(...)` or of a layer called on one.

    Attributes:
        shape: (None, *sample shape).
        dtype: the float type of the model it will be part of.
    """

    def __init__(self, shape: tuple[int, ...], dtype: str, layer: Layer,
                 parent: Optional["KerasTensor"]) -> None:
        self.shape = (None, *tuple(shape))
        self.dtype = dtype
        self._layer = layer    # the layer whose output this is (an InputLayer for an Input)
        self._parent = parent  # the tensor that layer was called on (None for an Input)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self._layer.name}>"


def input_tensor(layer: InputLayer) -> KerasTensor:
    """The symbolic tensor of an InputLayer (what keras.Input returns)."""
    layer.build(layer.shape)
    return KerasTensor(layer.shape, layer.dtype, layer, None)


def call(layer: Layer, inputs: Any) -> KerasTensor:
    """layer(inputs) on a symbolic tensor: the next link of a chain."""
    if isinstance(inputs, (list, tuple, dict)):
        raise NotImplementedError(f"Layer {layer.name!r} is called on {len(inputs)} tensors: fastmlp "
                                  "builds chains of single-input layers")
    if getattr(layer, "_inbound", None) is not None:
        raise NotImplementedError(f"Layer {layer.name!r} is called a second time: fastmlp builds chains "
                                  "in which each layer appears once (shared layers are not supported)")
    shape = layer.compute_output_shape(inputs.shape[1:])
    layer._inbound = inputs
    return KerasTensor(shape, inputs.dtype, layer, inputs)


def _one(value: Any, what: str) -> KerasTensor:
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise NotImplementedError(f"Model(...) got {len(value)} {what}: fastmlp builds models with "
                                      f"one input and one output")
        value = value[0]
    if isinstance(value, dict):
        raise NotImplementedError(f"Model(...) got {what} as a dict: fastmlp builds models with one "
                                  "input and one output")
    if not isinstance(value, KerasTensor):
        raise TypeError(f"Model({what}=...) expects symbolic tensors (from keras.Input and layer "
                        f"calls); received {type(value).__name__}")
    return value


def chain(inputs: Any, outputs: Any) -> list[Layer]:
    """The layers from the InputLayer of `inputs` to the layer that made `outputs`, in order."""
    start, end = _one(inputs, "inputs"), _one(outputs, "outputs")
    if start._parent is not None:
        raise NotImplementedError("Model(inputs=...) must be the tensor of keras.Input(...)")
    layers = []
    node: Optional[KerasTensor] = end
    while node is not None and node is not start:
        layers.append(node._layer)
        node = node._parent
    if node is None:
        raise ValueError(f"Model(outputs=...) does not come from Model(inputs=...): the chain from "
                         f"{end._layer.name!r} back to an input ends at another Input")
    layers.append(start._layer)
    return layers[::-1]
