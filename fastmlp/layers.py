"""Layers with Keras's signatures: Input, Flatten, Dense, the activation layers (Activation,
ReLU, LeakyReLU, ELU, Softmax), Dropout and BatchNormalization.

Each computing layer names the compiled step it becomes (engine_step: the API's one contact
with the engine) and the weights it holds (weight_specs: name, shape, trainable); the model
builds one engine over all of them.

A layer validates its arguments and resolves names in __init__, infers its output shape in
build(input_shape), and holds its weights as arrays; in a built model those arrays are views
into the model's one flat parameter buffer, so a layer never copies what the engine updates.
A layer belongs to one model at most (its weights live in that model's buffer): adding it to
a second model is refused. Its weights are shown read-only (`layer.kernel`); they are written
through set_weights or by assigning `layer.kernel = array`, which copies into the buffer.
"""
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from fastmlp import activations as _activations
from fastmlp import config, legacy, naming, seeding
from fastmlp import constraints as _constraints
from fastmlp import engine as _engine
from fastmlp import initializers as _initializers
from fastmlp import regularizers as _regularizers
from fastmlp._typing import ArrayLike, Config, DTypeLike

if TYPE_CHECKING:
    from fastmlp.functional import KerasTensor
    from fastmlp.models import Model

Shape = tuple[int, ...]
ShapeLike = Union[int, Sequence[int]]  # one sample's shape as a user writes it: 784 or (28, 28)


def _as_shape(value: ShapeLike, arg: str) -> Shape:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    try:
        shape = tuple(value)  # type: ignore[arg-type]  # anything a user passed; checked below
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
        trainable: whether fit() updates the layer's weights; a frozen layer's weights are
            non-trainable (summary counts them so) and a frozen BatchNormalization normalizes
            with its moving statistics in training too, as Keras's does.
    """

    def __init__(self, name: Optional[str] = None, input_shape: Optional[ShapeLike] = None,
                 dtype: DTypeLike = None, trainable: bool = True, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) {sorted(kwargs)}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"Argument `name` must be a non-empty string. Received: name={name!r}")
        self.name = name or naming.unique_name(naming.snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = config.resolve_dtype(dtype).name
        self._input_shape: Optional[Shape] = None if input_shape is None else _as_shape(input_shape, "input_shape")
        self.input_shape: Optional[Shape] = None
        self.output_shape: Optional[Shape] = None
        self.built = False
        self._weights: list[np.ndarray] = []  # Keras's order; views into the model's buffer once bound
        self._owner: Optional[weakref.ReferenceType[Model]] = None  # the model whose buffer holds the weights
        self._inbound: Optional[KerasTensor] = None  # the symbolic tensor it was called on (functional API)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_owner"] = None  # the model that copies this layer re-attaches it
        state["_inbound"] = None
        return state

    @property
    def trainable(self) -> bool:
        """Whether fit updates this layer's weights. Setting it on a layer of a built model
        lays the model's weights out anew (the trainable ones first) and starts the
        optimizer's state afresh, as recompiling does in Keras."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        value = bool(value)
        if value == self._trainable:
            return
        owner = self.owner
        if owner is not None and owner.built:
            with owner._writing("setting trainable"):
                self._trainable = value
                owner._bind_engine()  # a new layout: the trainable weights first
        else:
            self._trainable = value

    @property
    def owner(self) -> Optional["Model"]:
        """The model this layer belongs to, or None."""
        return self._owner() if self._owner is not None else None

    def _attach(self, model: "Model") -> None:
        owner = self.owner
        if owner is not None and owner is not model:
            raise ValueError(f"Layer {self.name!r} already belongs to model {owner.name!r}: fastmlp "
                             "keeps each model's weights in one buffer of its own, so a layer "
                             "cannot be shared between models. Create a new layer, or "
                             "copy.deepcopy the model.")
        self._owner = weakref.ref(model)

    def __call__(self, inputs: Any) -> "KerasTensor":
        """layer(tensor) on a symbolic tensor (from keras.Input): the next link of a functional
        chain. Layers compute inside a model: build one and call it, model(x)."""
        from fastmlp import functional
        if isinstance(inputs, (functional.KerasTensor, list, tuple, dict)):
            return functional.call(self, inputs)
        raise TypeError(f"Layer {self.name!r} can be called on a symbolic tensor (keras.Input(...)) "
                        "to build a functional model; to compute outputs, build a model and call it: "
                        "model(x)")

    def build(self, input_shape: Shape, initialize: bool = True) -> None:
        """Creates the weights for inputs of `input_shape` (one sample, no batch dimension);
        zeros instead of the initializers' draws with initialize=False (a model being loaded)."""
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self._weights = [(self._initial(name, shape) if initialize else np.zeros(shape, self.dtype))
                         for name, shape, _ in self.weight_specs(self.input_shape)]
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """Shape of one output sample for one input sample of `input_shape`."""
        return tuple(input_shape)

    def _built_input_shape(self) -> Shape:
        """The input_shape given to the constructor (an InputLayer always has one)."""
        if self._input_shape is None:
            raise ValueError(f"Layer {self.name!r} was given no input shape.")
        return self._input_shape

    @property
    def _built_output_shape(self) -> Shape:
        """The output shape of a built layer."""
        if self.output_shape is None:
            raise ValueError(f"Layer {self.name!r} has not been built: its output shape is unknown.")
        return self.output_shape

    @property
    def _built_shape(self) -> Shape:
        """The input shape of a built layer."""
        if self.input_shape is None:
            raise ValueError(f"Layer {self.name!r} has not been built: its input shape is unknown.")
        return self.input_shape

    def weight_specs(self, input_shape: Shape) -> list[tuple[str, Shape, bool]]:
        """(name, shape, trainable) of each weight for inputs of `input_shape`, Keras's order."""
        return []

    def _initial(self, name: str, shape: Shape) -> np.ndarray:
        """The initial value of weight `name`."""
        raise NotImplementedError

    def engine_step(self) -> Optional["_engine.Step"]:
        """The compiled step this built layer runs as (None: it only reshapes)."""
        return None

    def _bind(self, views: Sequence[np.ndarray]) -> None:
        """Moves the weights into the model's buffer: they become views of it."""
        for view, value in zip(views, self._weights):
            view[...] = value
        self._weights = list(views)

    @property
    def weights(self) -> list[np.ndarray]:
        """Read-only views of the weight arrays, Keras's order (write with set_weights)."""
        return [_read_only(w) for w in self._arrays()]

    def _split_weights(self, trainable: bool) -> list[np.ndarray]:
        if not self.built:
            return []
        return [_read_only(w) for w, (_, _, kind) in zip(self._weights, self.weight_specs(self._built_shape))
                if kind == trainable]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The weights fit updates (read-only views)."""
        return self._split_weights(True)

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The weights fit does not train by gradient (batch normalization's moving statistics)."""
        return self._split_weights(False)

    def count_params(self) -> int:
        """Number of scalar weights."""
        return int(sum(w.size for w in self.weights))

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, in Keras's layout (in a model: as predict sees them)."""
        owner = self.owner
        if owner is not None and owner.built:
            return owner._layer_weights(self)
        return [np.array(w) for w in self.weights]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Copies `weights` (same count and shapes as get_weights()) into the layer."""
        owner = self.owner
        if owner is not None and owner.built:
            owner._set_layer_weights(self, weights)
            return
        for target, value in zip(self._arrays(), self.checked_weights(weights)):
            target[...] = value

    def _arrays(self) -> list[np.ndarray]:
        """The writable weight arrays (views into the model's buffer once built)."""
        return list(self._weights) if self.built else []

    def checked_weights(self, weights: Sequence[ArrayLike]) -> list[np.ndarray]:
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

    def get_config(self) -> Config:
        """The constructor arguments."""
        return {"name": self.name, "dtype": self.dtype, "trainable": self.trainable}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class InputLayer(Layer):
    """Declares the shape of one input sample; the first element of a Sequential model.

    Args:
        shape: shape of one sample, e.g. (784,) or (28, 28).
        batch_size: accepted for Keras compatibility; batches of any size are processed.
        dtype: float type of the model.
        name: layer name.
    """

    def __init__(self, shape: Optional[ShapeLike] = None, batch_size: Optional[int] = None,
                 dtype: DTypeLike = None, name: Optional[str] = None,
                 input_shape: Optional[ShapeLike] = None, **kwargs: Any) -> None:
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise ValueError("Input needs a `shape` (one sample, no batch dimension), e.g. Input(shape=(784,)).")
        super().__init__(name=name, input_shape=shape,
                         dtype=dtype, **kwargs)
        self.batch_size = batch_size
        self.shape: Shape = self._built_input_shape()


def Input(shape: Optional[ShapeLike] = None, batch_size: Optional[int] = None,
          dtype: DTypeLike = None, name: Optional[str] = None, **kwargs: Any) -> "KerasTensor":
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

    Keyword Args:
        name: layer name.
    """

    def __init__(self, data_format: Optional[str] = None, input_shape: Optional[ShapeLike] = None, **kwargs: Any) -> None:
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten supports data_format='channels_last' only. Received: data_format={data_format!r}")
        super().__init__(input_shape=input_shape, **kwargs)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
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
        kernel_regularizer: penalty of the kernel (fastmlp.regularizers, 'l1' or 'l2'), added
            to the loss; its gradient to the kernel's gradient.
        bias_regularizer: the same for the bias.
        activity_regularizer: penalty of the layer's output, divided by the batch size.
        kernel_constraint: projection of the kernel applied after each update
            (fastmlp.constraints: 'max_norm', 'non_neg', 'unit_norm').
        bias_constraint: the same for the bias.
        input_shape: shape of one sample, for the first layer, e.g. (784,).
        input_dim: the same as input_shape=(input_dim,).

    Keyword Args:
        name: layer name.
        dtype: 'float32' or 'float64'.
        trainable: whether fit updates the weights.
    """

    def __init__(self, units: Optional[int] = None, activation: _activations.ActivationLike = None,
                 use_bias: bool = True,
                 kernel_initializer: _initializers.InitializerLike = "glorot_uniform",
                 bias_initializer: _initializers.InitializerLike = "zeros",
                 kernel_regularizer: _regularizers.RegularizerLike = None,
                 bias_regularizer: _regularizers.RegularizerLike = None,
                 activity_regularizer: _regularizers.RegularizerLike = None,
                 kernel_constraint: _constraints.ConstraintLike = None,
                 bias_constraint: _constraints.ConstraintLike = None,
                 input_shape: Optional[ShapeLike] = None, input_dim: Optional[int] = None, **kwargs: Any) -> None:
        kwargs = legacy.translate("Dense", kwargs, given={name for name, value in (
            ("units", units), ("kernel_initializer", kernel_initializer)) if value not in (None, "glorot_uniform")})
        units = kwargs.pop("units", units)  # output_dim= (Keras 1)
        # init= (Keras 1); its 'uniform' is U(-0.05, 0.05), as fastmlp's RandomUniform
        kernel_initializer = kwargs.pop("kernel_initializer", kernel_initializer)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Received an invalid value for `units`, expected a positive integer. "
                             f"Received: units={units!r}")
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
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(f"Dense layer {self.name!r} takes samples of one dimension; received "
                             f"samples of shape {tuple(input_shape)}. Add a Flatten layer before it.")
        return (self.units,)

    def weight_specs(self, input_shape: Shape) -> list[tuple[str, Shape, bool]]:
        return [("kernel", (input_shape[0], self.units), self.trainable)] + (
            [("bias", (self.units,), self.trainable)] if self.use_bias else [])

    def _initial(self, name: str, shape: Shape) -> np.ndarray:
        init = self.kernel_initializer if name == "kernel" else self.bias_initializer
        return init(shape, dtype=self.dtype)

    def engine_step(self) -> "_engine.Step":
        def penalty(regularizer: Optional[_regularizers.Regularizer]) -> tuple[float, float]:
            return (0.0, 0.0) if regularizer is None else (regularizer.l1, regularizer.l2)

        def constraint(c: Optional[_constraints.Constraint]) -> Optional[tuple[str, float]]:
            return None if c is None else (c.kind, float(c.max_value))
        return _engine.DenseStep(self._built_shape[0], self.units, self.activation_name, self.use_bias,
                                 kernel_penalty=penalty(self.kernel_regularizer),
                                 bias_penalty=penalty(self.bias_regularizer),
                                 activity_penalty=penalty(self.activity_regularizer),
                                 kernel_constraint=constraint(self.kernel_constraint),
                                 bias_constraint=constraint(self.bias_constraint),
                                 trainable=self.trainable)

    @property
    def _kernel(self) -> Optional[np.ndarray]:
        return self._weights[0] if self.built else None

    @property
    def _bias(self) -> Optional[np.ndarray]:
        return self._weights[1] if self.built and self.use_bias else None

    @property
    def kernel(self) -> Optional[np.ndarray]:
        """The (inputs, units) kernel, read-only; assigning an array copies it in."""
        return None if self._kernel is None else _read_only(self._kernel)

    @kernel.setter
    def kernel(self, value: ArrayLike) -> None:
        self._require_weights("kernel")
        self.set_weights([value] + ([self._arrays()[1]] if self.use_bias else []))

    @property
    def bias(self) -> Optional[np.ndarray]:
        """The (units,) bias, read-only (None without use_bias); assigning an array copies it in."""
        return None if self._bias is None else _read_only(self._bias)

    @bias.setter
    def bias(self, value: ArrayLike) -> None:
        self._require_weights("bias")
        if not self.use_bias:
            raise ValueError(f"Dense layer {self.name!r} has no bias (use_bias=False).")
        self.set_weights([self._arrays()[0], value])

    def _require_weights(self, name: str) -> None:
        if not self.built:
            raise ValueError(f"Dense layer {self.name!r} has no {name} yet: it is created when the "
                             "layer is built (input shape known).")

    def get_config(self) -> Config:
        return {**super().get_config(), "units": self.units, "activation": self.activation_name,
                "use_bias": self.use_bias,
                "kernel_regularizer": _regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": _regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": _regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": _constraints.serialize(self.kernel_constraint),
                "bias_constraint": _constraints.serialize(self.bias_constraint)}


def _number(value: Any, arg: str, layer: str, low: float = float("-inf"), high: float = float("inf"),
            low_open: bool = False, high_open: bool = False) -> float:
    """value as a float in the range given; else a ValueError naming the argument."""
    ok = (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
          and np.isfinite(value) and (value > low if low_open else value >= low)
          and (value < high if high_open else value <= high))
    if not ok:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{layer}: argument `{arg}` must be a number in {lo}{low}, {high}{hi}. "
                         f"Received: {arg}={value!r}")
    return float(value)


def _last_axis_only(axis: Any, layer: str, input_shape: Optional[Shape] = None) -> None:
    if axis in (-1, None) or (input_shape is not None and axis == len(input_shape)):
        return
    raise ValueError(f"{layer} supports axis=-1 (the features of each sample) only. Received: axis={axis!r}")


class Activation(Layer):
    """Applies an activation function to each sample.

    Args:
        activation: a name ('relu', 'softmax', 'gelu', ...) or a function of fastmlp.activations.

    Keyword Args:
        name: layer name.
    """

    def __init__(self, activation: _activations.ActivationLike, **kwargs: Any) -> None:
        self._alpha: Optional[float] = kwargs.pop("_alpha", None)
        super().__init__(**kwargs)
        self.activation = _activations.get(activation)
        self.activation_name = _activations.name_of(activation)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.activation_name == "softmax" and len(input_shape) != 1:
            raise ValueError(f"{type(self).__name__} layer {self.name!r}: softmax runs over the features "
                             f"of samples of one dimension; received samples of shape "
                             f"{tuple(input_shape)}. Add a Flatten layer before it.")
        return tuple(input_shape)

    def engine_step(self) -> "_engine.Step":
        return _engine.ActivationStep(int(np.prod(self._built_shape)), self.activation_name, self._alpha)

    def get_config(self) -> Config:
        return {**super().get_config(), "activation": self.activation_name}


class ReLU(Activation):
    """max(x, 0), or a leaky ReLU with negative_slope > 0.

    Args:
        max_value: only None (no upper bound) is supported.
        negative_slope: slope for x < 0, >= 0 (default 0).
        threshold: only 0 is supported.
    """

    def __init__(self, max_value: Optional[float] = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs: Any) -> None:
        if max_value is not None or threshold != 0:
            raise ValueError("ReLU(max_value=..., threshold=...) is not supported by fastmlp: use "
                             f"max_value=None and threshold=0. Received: max_value={max_value!r}, "
                             f"threshold={threshold!r}")
        slope = _number(negative_slope, "negative_slope", "ReLU", low=0)
        self.max_value, self.negative_slope, self.threshold = None, slope, 0.0
        super().__init__("leaky_relu" if slope else "relu", _alpha=slope if slope else None, **kwargs)

    def get_config(self) -> Config:
        return {**Layer.get_config(self), "max_value": None, "negative_slope": self.negative_slope, "threshold": 0.0}


class LeakyReLU(Activation):
    """x for x > 0, negative_slope * x otherwise.

    Args:
        negative_slope: slope for x < 0, >= 0 (Keras's default 0.3). `alpha=` (Keras 2) is
            accepted with a DeprecationWarning.
    """

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        kwargs = legacy.translate("LeakyReLU", kwargs, given={"negative_slope"} if negative_slope != 0.3 else ())
        negative_slope = kwargs.pop("negative_slope", negative_slope)
        self.negative_slope = _number(negative_slope, "negative_slope", "LeakyReLU", low=0)
        super().__init__("leaky_relu", _alpha=self.negative_slope, **kwargs)

    def get_config(self) -> Config:
        return {**Layer.get_config(self), "negative_slope": self.negative_slope}


class ELU(Activation):
    """x for x > 0, alpha * (exp(x) − 1) otherwise.

    Args:
        alpha: scale of the negative part, > 0 (default 1.0).
    """

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        self.alpha = _number(alpha, "alpha", "ELU", low=0, low_open=True)
        super().__init__("elu", _alpha=self.alpha, **kwargs)

    def get_config(self) -> Config:
        return {**Layer.get_config(self), "alpha": self.alpha}


class Softmax(Activation):
    """Softmax over each sample's features.

    Args:
        axis: only -1 (the features) is supported.
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        _last_axis_only(axis, "Softmax")
        self.axis = -1
        super().__init__("softmax", **kwargs)

    def get_config(self) -> Config:
        return {**Layer.get_config(self), "axis": -1}


class Dropout(Layer):
    """Sets a fraction `rate` of the inputs to 0 in training and scales the others by
    1 / (1 − rate); the identity in predict and evaluate. The masks are drawn in compiled code,
    reproducibly: from the layer's seed, the epoch's seed (drawn from the session generator,
    see fastmlp.utils.set_random_seed) and the step.

    Args:
        rate: fraction of the inputs to drop, in [0, 1).
        noise_shape: only None (an independent mask per element) is supported.
        seed: integer seed of the layer's masks; None draws one from the session generator.
    """

    def __init__(self, rate: float, noise_shape: None = None, seed: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(rate, (int, float, np.integer, np.floating)) and rate == 1 and not isinstance(rate, bool):
            raise ValueError("Dropout(rate=1) would drop every input: fastmlp supports rates in [0, 1).")
        self.rate = _number(rate, "rate", "Dropout", low=0, high=1, high_open=True)
        if noise_shape is not None:
            raise ValueError(f"Dropout(noise_shape=...) is not supported by fastmlp. Received: "
                             f"noise_shape={noise_shape!r}")
        self.noise_shape = None
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"Dropout: argument `seed` must be a non-negative integer or None. "
                             f"Received: seed={seed!r}")
        self.seed = None if seed is None else int(seed)
        self._mask_seed: int = (int(seed) if seed is not None
                                else int(seeding.generator().integers(2 ** 63)))

    def engine_step(self) -> "_engine.Step":
        return _engine.DropoutStep(int(np.prod(self._built_shape)), self.rate, self._mask_seed % 2 ** 64)

    def get_config(self) -> Config:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": None}


class BatchNormalization(Layer):
    """Normalizes each feature: in training by the batch's mean and variance, in inference by
    moving averages of them, then scales by gamma and shifts by beta (Keras's layer).

    Args:
        axis: only -1 (the features of samples of one dimension) is supported.
        momentum: of the moving averages, moving = moving * momentum + batch * (1 − momentum).
        epsilon: added to the variance.
        center: whether to learn the offset beta.
        scale: whether to learn the factor gamma.
        beta_initializer: initializer of beta ('zeros').
        gamma_initializer: initializer of gamma ('ones').
        moving_mean_initializer: initializer of the moving mean ('zeros').
        moving_variance_initializer: initializer of the moving variance ('ones').
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True,
                 beta_initializer: _initializers.InitializerLike = "zeros",
                 gamma_initializer: _initializers.InitializerLike = "ones",
                 moving_mean_initializer: _initializers.InitializerLike = "zeros",
                 moving_variance_initializer: _initializers.InitializerLike = "ones",
                 beta_regularizer: None = None, gamma_regularizer: None = None,
                 beta_constraint: None = None, gamma_constraint: None = None, renorm: bool = False,
                 renorm_clipping: None = None, renorm_momentum: float = 0.99, synchronized: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for arg, value in (("beta_regularizer", beta_regularizer), ("gamma_regularizer", gamma_regularizer),
                           ("beta_constraint", beta_constraint), ("gamma_constraint", gamma_constraint),
                           ("renorm_clipping", renorm_clipping)):
            if value is not None:
                raise ValueError(f"BatchNormalization({arg}=...) is not supported by fastmlp yet. "
                                 f"Received: {arg}={value!r}")
        if renorm:
            raise ValueError("BatchNormalization(renorm=True) is not supported by fastmlp.")
        self.axis = axis
        _last_axis_only(axis, "BatchNormalization")
        self.momentum = _number(momentum, "momentum", "BatchNormalization", low=0, high=1)
        self.epsilon = _number(epsilon, "epsilon", "BatchNormalization", low=0, low_open=True)
        self.center, self.scale = bool(center), bool(scale)
        self.synchronized = bool(synchronized)  # one process: the same statistics either way
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.moving_mean_initializer = _initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = _initializers.get(moving_variance_initializer)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(f"BatchNormalization layer {self.name!r} normalizes samples of one "
                             f"dimension; received samples of shape {tuple(input_shape)}. Add a "
                             "Flatten layer before it.")
        return tuple(input_shape)

    def weight_specs(self, input_shape: Shape) -> list[tuple[str, Shape, bool]]:
        n: Shape = (input_shape[0],)
        return (([("gamma", n, self.trainable)] if self.scale else [])
                + ([("beta", n, self.trainable)] if self.center else [])
                + [("moving_mean", n, False), ("moving_variance", n, False)])

    def _initial(self, name: str, shape: Shape) -> np.ndarray:
        initializer: _initializers.Initializer = getattr(self, f"{name}_initializer")
        return initializer(shape, dtype=self.dtype)

    def engine_step(self) -> "_engine.Step":
        return _engine.BatchNormStep(self._built_shape[0], self.momentum, self.epsilon, self.center,
                                     self.scale, self.trainable)

    def get_config(self) -> Config:
        return {**super().get_config(), "axis": -1, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}


def _read_only(array: np.ndarray) -> np.ndarray:
    view: np.ndarray = array.view()
    view.flags.writeable = False
    return view
