"""Layers with Keras's signatures: Input, Flatten, Dense.

A layer validates its arguments and resolves names in __init__, infers its output shape in
build(input_shape), and holds its weights as arrays; in a built model those arrays are views
into the model's one flat parameter buffer, so a layer never copies what the engine updates.
A layer belongs to one model at most (its weights live in that model's buffer): adding it to
a second model is refused. Its weights are shown read-only (`layer.kernel`); they are written
through set_weights or by assigning `layer.kernel = array`, which copies into the buffer.
"""
import weakref
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from fastmlp import activations as _activations
from fastmlp import config, initializers as _initializers, legacy, naming

Shape = Tuple[int, ...]


def _as_shape(value, arg: str) -> Shape:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    try:
        shape = tuple(value)
    except TypeError:
        raise TypeError(f"Argument `{arg}` must be a tuple or list of positive integers. Received: {arg}={value!r}") from None
    if not shape or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0 for d in shape):
        raise ValueError(f"Argument `{arg}` must be a non-empty tuple of positive integers (no batch "
                         f"dimension). Received: {arg}={value!r}")
    return tuple(int(d) for d in shape)


class Layer:
    """Base class of the layers.

    Args:
        name: unique name; Keras's default (`dense`, `dense_1`, ...) when None.
        input_shape: shape of one sample (no batch dimension), for the first layer.
        dtype: 'float32' or 'float64'; the default float type (fastmlp.config) when None.
        trainable: whether fit() updates the layer's weights (only True is supported).
    """

    def __init__(self, name: Optional[str] = None, input_shape=None, dtype=None,
                 trainable: bool = True, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) {sorted(kwargs)}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"Argument `name` must be a non-empty string. Received: name={name!r}")
        if not trainable:
            raise ValueError("trainable=False layers are not supported by fastmlp yet.")
        self.name = name or naming.unique_name(naming.snake_case(type(self).__name__))
        self.trainable = True
        self.dtype = config.resolve_dtype(dtype).name
        self._input_shape: Optional[Shape] = None if input_shape is None else _as_shape(input_shape, "input_shape")
        self.input_shape: Optional[Shape] = None
        self.output_shape: Optional[Shape] = None
        self.built = False
        self._owner = None  # weakref to the model whose buffer holds the weights
        self._inbound = None  # the symbolic tensor it was called on (functional API)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_owner"] = None  # the model that copies this layer re-attaches it
        state["_inbound"] = None
        return state

    @property
    def owner(self):
        """The model this layer belongs to, or None."""
        return self._owner() if self._owner is not None else None

    def _attach(self, model) -> None:
        owner = self.owner
        if owner is not None and owner is not model:
            raise ValueError(f"Layer {self.name!r} already belongs to model {owner.name!r}: fastmlp "
                             "keeps each model's weights in one buffer of its own, so a layer "
                             "cannot be shared between models. Create a new layer, or "
                             "copy.deepcopy the model.")
        self._owner = weakref.ref(model)

    def __call__(self, inputs):
        """layer(tensor) on a symbolic tensor (from keras.Input): the next link of a functional
        chain. Layers compute inside a model: build one and call it, model(x)."""
        from fastmlp import functional
        if isinstance(inputs, functional.KerasTensor) or isinstance(inputs, (list, tuple, dict)):
            return functional.call(self, inputs)
        raise TypeError(f"Layer {self.name!r} can be called on a symbolic tensor (keras.Input(...)) "
                        "to build a functional model; to compute outputs, build a model and call it: "
                        "model(x)")

    def build(self, input_shape: Shape, initialize: bool = True) -> None:
        """Creates the weights for inputs of `input_shape` (one sample, no batch dimension);
        zeros instead of the initializers' draws with initialize=False (a model being loaded)."""
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """Shape of one output sample for one input sample of `input_shape`."""
        return tuple(input_shape)

    @property
    def weights(self) -> List[np.ndarray]:
        """Read-only views of the weight arrays, Keras's order (write with set_weights)."""
        return [_read_only(w) for w in self._arrays()]

    def count_params(self) -> int:
        """Number of scalar weights."""
        return int(sum(w.size for w in self.weights))

    def get_weights(self) -> List[np.ndarray]:
        """Copies of the weights, in Keras's layout (in a model: as predict sees them)."""
        owner = self.owner
        if owner is not None and owner.built:
            return owner._layer_weights(self)
        return [np.array(w) for w in self.weights]

    def set_weights(self, weights: Sequence) -> None:
        """Copies `weights` (same count and shapes as get_weights()) into the layer."""
        owner = self.owner
        if owner is not None and owner.built:
            owner._set_layer_weights(self, weights)
            return
        for target, value in zip(self._arrays(), self.checked_weights(weights)):
            target[...] = value

    def _arrays(self) -> List[np.ndarray]:
        """The writable weight arrays (views into the model's buffer once built)."""
        return []

    def checked_weights(self, weights: Sequence) -> List[np.ndarray]:
        """`weights` as arrays, once their count, shapes and values fit this layer; nothing is
        written, so a model can check every layer before it changes any."""
        current = self.weights
        weights = list(weights)
        if len(weights) != len(current):
            raise ValueError(f"Layer {self.name!r} expects {len(current)} weight arrays, "
                             f"received {len(weights)}.")
        arrays = [np.asarray(w) for w in weights]
        for i, (target, value) in enumerate(zip(current, arrays)):
            if value.shape != target.shape:
                raise ValueError(f"Layer {self.name!r} weight {i} has shape {target.shape}; "
                                 f"received shape {value.shape}.")
            if value.dtype.kind not in "biuf" or not np.isfinite(value).all():
                raise ValueError(f"Layer {self.name!r} weight {i} must be finite numbers.")
        return arrays

    def get_config(self) -> dict:
        """The constructor arguments."""
        return {"name": self.name, "dtype": self.dtype, "trainable": self.trainable}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class InputLayer(Layer):
    """Declares the shape of one input sample; the first element of a Sequential model.

    Args:
        shape: shape of one sample, e.g. (784,) or (28, 28).
        batch_size: accepted for Keras compatibility; batches of any size are processed.
        dtype: float type of the model.
        name: layer name.
    """

    def __init__(self, shape=None, batch_size: Optional[int] = None, dtype=None,
                 name: Optional[str] = None, input_shape=None, **kwargs):
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise ValueError("Input needs a `shape` (one sample, no batch dimension), e.g. Input(shape=(784,)).")
        super().__init__(name=name, input_shape=shape,
                         dtype=dtype, **kwargs)
        self.batch_size = batch_size
        self.shape = self._input_shape


def Input(shape=None, batch_size: Optional[int] = None, dtype=None,
          name: Optional[str] = None, **kwargs):
    """A model's input, as a symbolic tensor: call layers on it and give both ends to
    `Model(inputs=..., outputs=...)`, or put it first in a Sequential.

    Args:
        shape: shape of one sample, no batch dimension.
        batch_size: accepted for Keras compatibility.
        dtype: float type of the model.
        name: layer name.
    """
    from fastmlp.functional import input_tensor
    return input_tensor(InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, **kwargs))


class Flatten(Layer):
    """Flattens each sample to one dimension: (None, 28, 28) -> (None, 784).

    Args:
        data_format: accepted for Keras compatibility ('channels_last' or None).
        input_shape: shape of one sample, for the first layer.
        name: layer name.
    """

    def __init__(self, data_format: Optional[str] = None, input_shape=None, **kwargs):
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten supports data_format='channels_last' only. Received: data_format={data_format!r}")
        super().__init__(input_shape=input_shape, **kwargs)

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)


class Dense(Layer):
    """Densely connected layer: output = activation(inputs · kernel + bias).

    Args:
        units: positive integer, width of the output.
        activation: name ('relu', 'sigmoid', 'tanh', 'softmax', 'linear') or a function of
            fastmlp.activations; None means linear.
        use_bias: whether the layer adds a bias vector.
        kernel_initializer: initializer of the (inputs, units) kernel, default 'glorot_uniform'.
        bias_initializer: initializer of the bias, default 'zeros'.
        input_shape: shape of one sample, for the first layer, e.g. (784,).
        input_dim: the same as input_shape=(input_dim,).
        name: layer name.
        dtype: 'float32' or 'float64'.
    """

    def __init__(self, units: Optional[int] = None, activation: Union[str, Callable, None] = None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 input_shape=None, input_dim: Optional[int] = None, **kwargs):
        kwargs = legacy.translate("Dense", kwargs, given={name for name, value in (
            ("units", units), ("kernel_initializer", kernel_initializer)) if value not in (None, "glorot_uniform")})
        units = kwargs.pop("units", units)  # output_dim= (Keras 1)
        # init= (Keras 1); its 'uniform' is U(-0.05, 0.05), as fastmlp's RandomUniform
        kernel_initializer = kwargs.pop("kernel_initializer", kernel_initializer)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Received an invalid value for `units`, expected a positive integer. "
                             f"Received: units={units!r}")
        for arg, value in (("kernel_regularizer", kernel_regularizer), ("bias_regularizer", bias_regularizer),
                           ("activity_regularizer", activity_regularizer),
                           ("kernel_constraint", kernel_constraint), ("bias_constraint", bias_constraint)):
            if value is not None:
                raise ValueError(f"Dense({arg}=...) is not supported by fastmlp yet. Received: {arg}={value!r}")
        if input_dim is not None:
            if input_shape is not None:
                raise ValueError("Give Dense either input_shape or input_dim, not both.")
            input_shape = (input_dim,)
        super().__init__(input_shape=input_shape, **kwargs)
        self.units = int(units)
        self.activation = _activations.get(activation)
        self.activation_name = _activations.name_of(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self._kernel: Optional[np.ndarray] = None
        self._bias: Optional[np.ndarray] = None

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"Dense layer {self.name!r} takes samples of one dimension; received "
                             f"samples of shape {tuple(input_shape)}. Add a Flatten layer before it.")
        return (self.units,)

    def build(self, input_shape, initialize: bool = True):
        super().build(input_shape)
        if not initialize:  # weights about to be loaded: draw nothing from the session generator
            self._kernel = np.zeros((input_shape[0], self.units), dtype=self.dtype)
            self._bias = np.zeros(self.units, dtype=self.dtype) if self.use_bias else None
            return
        self._kernel = self.kernel_initializer((input_shape[0], self.units), dtype=self.dtype)
        self._bias = self.bias_initializer((self.units,), dtype=self.dtype) if self.use_bias else None

    def _bind(self, kernel: np.ndarray, bias: Optional[np.ndarray]) -> None:
        """Moves the weights into the model's buffer: kernel and bias are views of it."""
        kernel[...] = self._kernel
        self._kernel = kernel
        if self.use_bias:
            bias[...] = self._bias
            self._bias = bias

    def _arrays(self):
        if not self.built:
            return []
        return [self._kernel, self._bias] if self.use_bias else [self._kernel]

    @property
    def kernel(self) -> Optional[np.ndarray]:
        """The (inputs, units) kernel, read-only; assigning an array copies it in."""
        return None if self._kernel is None else _read_only(self._kernel)

    @kernel.setter
    def kernel(self, value) -> None:
        self._require_weights("kernel")
        self.set_weights([value] + ([self._bias] if self.use_bias else []))

    @property
    def bias(self) -> Optional[np.ndarray]:
        """The (units,) bias, read-only (None without use_bias); assigning an array copies it in."""
        return None if self._bias is None else _read_only(self._bias)

    @bias.setter
    def bias(self, value) -> None:
        self._require_weights("bias")
        if not self.use_bias:
            raise ValueError(f"Dense layer {self.name!r} has no bias (use_bias=False).")
        self.set_weights([self._kernel, value])

    def _require_weights(self, name):
        if not self.built:
            raise ValueError(f"Dense layer {self.name!r} has no {name} yet: it is created when the "
                             "layer is built (input shape known).")

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation_name,
                "use_bias": self.use_bias}


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view
