"""Models: the Keras API over the compiled engine (fastmlp/engine.py).

`Model` holds what every model shares: the engine, the weights, the rule for concurrent use,
copying and pickling; compile/fit/evaluate/predict come from the Trainer. `Sequential` adds the
linear stack of layers.

Concurrency: one writer at a time (fit, set_weights, compile, add; a second fit from another
thread raises RuntimeError), any number of readers (predict, evaluate, get_weights), which see
the last published weights without waiting.
"""
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Callable, Optional, TypeVar, cast

import numpy as np

from fastmlp import naming
from fastmlp import summary as _summary
from fastmlp._typing import ArrayLike, Config, PathLike
from fastmlp.engine import Engine
from fastmlp.layers import Dense, InputLayer, Layer
from fastmlp.trainer import Trainer

_M = TypeVar("_M", bound="Model")


class Model(Trainer):
    """Base of the models; `Model(inputs=..., outputs=...)` builds a functional chain (see
    fastmlp.functional) and `Sequential` a stack.

    Keyword Args:
        inputs: the tensor of `keras.Input(...)`.
        outputs: the tensor of the last layer called on the chain from `inputs`.
        name: model name.
    """

    def __new__(cls: type[_M], *args: Any, **kwargs: Any) -> _M:
        if cls is Model:  # Model(inputs, outputs): a functional model
            return cast(_M, super().__new__(Functional))
        return super().__new__(cls)

    # what a concrete model (Sequential, Functional) provides
    name: str
    _input_shape: Optional[tuple[int, ...]]

    @property
    def layers(self) -> list[Layer]:
        """The layers (Keras's listing)."""
        raise NotImplementedError

    def _step_layers(self) -> list[Layer]:
        raise NotImplementedError

    def _dense_layers(self) -> list[Dense]:
        raise NotImplementedError

    def _all_layers(self) -> list[Layer]:
        raise NotImplementedError

    def _computing_layers(self) -> list[Layer]:
        raise NotImplementedError

    def _build(self, initialize: bool = True) -> None:
        raise NotImplementedError

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._engine: Optional[Engine] = None
        self._lock = threading.RLock()
        self._training_thread: Optional[int] = None
        self.optimizer: Any = None
        self.loss: Any = None
        self.compiled = False
        self.stop_training = False
        self.history: Any = None
        self._metrics: list[Any] = []  # metrics.MetricSpec, in compile order
        self._rule = None

    # ----- concurrency ---------------------------------------------------------------------------
    @contextmanager
    def _writing(self, what: str, training: bool = False) -> Iterator[None]:
        """Holds the model's writer lock for `what`. A fit in another thread makes it fail at
        once with RuntimeError, rather than wait for a whole training run; the thread running
        fit may write (callbacks do), but not start a second fit."""
        if not self._lock.acquire(blocking=False):
            if self._training_thread is not None:
                raise RuntimeError(f"{what} cannot run while fit() trains model {self.name!r} in "
                                   "another thread; wait for it to return (predict, evaluate and "
                                   "get_weights may run meanwhile).")
            self._lock.acquire()
        try:
            if training:
                if self._training_thread is not None:
                    raise RuntimeError(f"fit() cannot be called on model {self.name!r} from "
                                       "inside its own fit() (a callback).")
                self._training_thread = threading.get_ident()
            try:
                yield
            finally:
                if training:
                    self._training_thread = None
        finally:
            self._lock.release()

    # ----- files and copies -----------------------------------------------------------------------
    def save(self, filepath: PathLike, include_optimizer: bool = True) -> None:
        """Saves the model: architecture, weights, compile settings and (unless
        include_optimizer=False) the optimizer's state, atomically.

        Args:
            filepath: `*.fastmlp` (fastmlp's own format: numpy only, nothing executes on load)
                or `*.keras` (a Keras 3 file that `keras.models.load_model` opens; needs
                `pip install "fastmlp[keras]"`).
            include_optimizer: whether to save the optimizer state, so that fit resumes exactly.
        """
        from fastmlp import saving
        saving.save_model(self, filepath, include_optimizer=include_optimizer)

    def save_weights(self, filepath: PathLike) -> None:
        """Saves the weights alone (`*.weights.fastmlp`, or Keras's `*.weights.h5`)."""
        from fastmlp import saving
        saving.save_weights(self, filepath)

    def load_weights(self, filepath: PathLike) -> None:
        """Loads weights saved by save_weights (or by Keras, `*.weights.h5`) into this model,
        checking every shape before writing any."""
        from fastmlp import saving
        saving.load_weights(self, filepath)

    def __reduce__(self) -> tuple[Callable[[bytes], "Model"], tuple[bytes]]:
        # copies and pickles go through the model file format, never through internals
        from fastmlp.saving import native
        return native.model_from_bytes, (native.model_to_bytes(self),)

    # ----- weights --------------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        """Whether the weights exist (input shape known)."""
        return self._engine is not None

    @property
    def engine(self) -> Engine:
        """The compiled plan under the model (for benchmarks and tools; most code never needs it)."""
        if self._engine is None:
            self._require_built()  # raises, saying why
            raise AssertionError("unreachable")
        return self._engine

    @property
    def dtype(self) -> str:
        """'float32' or 'float64'."""
        return str(self.engine.dtype.name)

    def count_params(self) -> int:
        """Number of scalar weights."""
        return int(self.engine.size)

    @property
    def weights(self) -> list[np.ndarray]:
        """All weight arrays as read-only views of the live buffer, in Keras's order."""
        return [w for layer in self.layers for w in layer.weights]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights, [W0 (inputs, units), b0, W1, b1, ...], as predict sees them."""
        self._require_built()
        return [w for layer in self.layers for w in self._layer_weights(layer)]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Loads weights in get_weights()'s layout (e.g. from a Keras model's get_weights()).
        Every array is checked before any is written; readers see the old or the new weights,
        never a mix."""
        self._require_built()
        weights = list(weights)
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"set_weights expects a list of {expected} arrays for model "
                             f"{self.name!r}; received {len(weights)}.")
        pairs, start = [], 0
        for layer in self.layers:
            count = len(layer.weights)
            pairs.append((layer, weights[start:start + count]))
            start += count
        self._write_weights(pairs)

    def _layer_weights(self, layer: Layer) -> list[np.ndarray]:
        """Copies of one layer's weights from the published buffer."""
        steps = self._step_layers()
        if not any(step is layer for step in steps):
            return []
        index = next(i for i, step in enumerate(steps) if step is layer)
        engine = self.engine
        return [w.copy() for w in engine.views(index, engine.published)]

    def _set_layer_weights(self, layer: Layer, weights: Sequence[ArrayLike]) -> None:
        self._write_weights([(layer, weights)])

    def _write_weights(self, pairs: Iterable[tuple[Layer, Sequence[ArrayLike]]]) -> None:
        checked = [(layer, layer.checked_weights(arrays)) for layer, arrays in pairs]
        with self._writing("set_weights()"):
            for layer, arrays in checked:
                for target, value in zip(layer._arrays(), arrays):
                    target[...] = value
            self.engine.publish()

    def _build_for_loading(self) -> None:
        """Builds a model read from a file (input shape set), drawing no random numbers."""
        if self._input_shape is None:
            raise ValueError(f"model {self.name!r} has no input shape to build from")
        with self._writing("build()"):
            self._build(initialize=False)

    @property
    def _built_shape(self) -> tuple[int, ...]:
        """The input shape of a built model, one sample's (ValueError when unbuilt), as a
        layer's _built_shape."""
        self._require_built()
        if self._input_shape is None:  # a built model knows it; this keeps the type checker sure
            raise ValueError(f"Model {self.name!r} has no input shape")
        return self._input_shape

    def _require_built(self) -> None:
        if self._engine is None:
            if self._input_shape is not None and not self._dense_layers():
                raise ValueError(f"Model {self.name!r} has no Dense layer (its layers: "
                                 f"{[layer.name for layer in self.layers]}): add one before "
                                 "fit, evaluate or predict.")
            raise ValueError(f"Model {self.name!r} has not been built yet: its input shape is unknown. "
                             "Give the first layer input_shape=..., or call fit/predict first.")

    def _bind_engine(self) -> None:
        """A new engine over the computing layers' current weights, which become its views."""
        layers = self._step_layers()
        steps = [layer.engine_step() for layer in layers]
        engine = Engine([step for step in steps if step is not None], self._dense_layers()[0].dtype,
                        self._input_shape)
        for index, layer in enumerate(layers):
            layer._bind(engine.views(index))
        engine.publish()
        self._engine = engine
        self._rule = None  # the optimizer's slots belong to the old buffer

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Layer:
        """The layer of this name, or at this index of `model.layers`.

        Args:
            name: the layer's name.
            index: its position in `model.layers` (negative counts from the end).
        """
        if (name is None) == (index is None):
            raise ValueError("Provide either a layer name or a layer index (one of them). "
                             f"Received: name={name!r}, index={index!r}")
        layers = self.layers
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int) or not -len(layers) <= index < len(layers):
                raise ValueError(f"Was asked to retrieve layer at index {index!r} but model "
                                 f"{self.name!r} only has {len(layers)} layers.")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Existing layers are: {[l.name for l in layers]}.")

    def get_config(self) -> Config:
        """The model's config, as Keras's get_config: its name and its layers' configs."""
        from fastmlp.saving.config import model_config
        config: Config = model_config(self)["config"]
        return config

    def to_json(self, **kwargs: Any) -> str:
        """The model's architecture as Keras's JSON ({"class_name", "config"}, no weights), which
        keras.models.model_from_json reads (and fastmlp.models.model_from_json).

        Args:
            **kwargs: passed to json.dumps.
        """
        import json

        from fastmlp.saving.config import model_config
        return json.dumps(model_config(self), **kwargs)

    def summary(self, line_length: Optional[int] = None,
                print_fn: Optional[Callable[[str], object]] = None) -> None:
        """Prints the Keras table of layers, output shapes and parameter counts.

        Args:
            line_length: total width of the table (default 77 characters, as Keras).
            print_fn: function called with the text (default print).
        """
        (print_fn or print)(_summary.render(self, line_length))


class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: optional list of layers to add, in order.
        name: model name; 'sequential', 'sequential_1', ... when None.
    """

    def __init__(self, layers: Optional[Sequence[Layer]] = None, name: Optional[str] = None) -> None:
        super().__init__()
        self.name = name or naming.unique_name("sequential")
        self._layers: list[Layer] = []
        self._input_shape = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        """The layers, without the Input (as Keras lists them)."""
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)]

    def _all_layers(self) -> list[Layer]:
        return list(self._layers)

    def _computing_layers(self) -> list[Layer]:
        """The layers without the InputLayer (what a Keras Sequential lists and saves)."""
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)]

    def _dense_layers(self) -> list[Dense]:
        return [layer for layer in self._layers if isinstance(layer, Dense)]

    def _step_layers(self) -> list[Layer]:
        """The layers that run as compiled steps, in order (engine step i is layer i here)."""
        return [layer for layer in self._layers if layer.built and layer.engine_step() is not None]

    def _ready_to_build(self) -> bool:
        return self._input_shape is not None and bool(self._dense_layers())

    def add(self, layer: Layer) -> None:
        """Appends a layer (or `keras.Input(...)`, first); the model is (re)built as soon as its
        input shape is known."""
        from fastmlp.functional import KerasTensor
        if isinstance(layer, KerasTensor) and isinstance(layer._layer, InputLayer):
            layer = layer._layer
        self._check_new_layer(layer)
        with self._writing("add()"):
            layer._attach(self)
            # Keras reads input_shape from the first layer only and ignores it on later ones.
            if not self._layers and layer._input_shape is not None:
                self._input_shape = layer._input_shape
            self._layers.append(layer)
            if self._ready_to_build():
                self._build()

    def pop(self, rebuild: bool = True) -> Layer:
        """Removes the last layer and returns it; the model is built anew over the layers left
        (their weights kept).

        Args:
            rebuild: accepted for Keras compatibility (the model is always rebuilt).
        """
        computing = self._computing_layers()
        if not computing:
            raise TypeError("There are no layers in the model.")
        with self._writing("pop()"):
            layer = computing[-1]
            self._layers.remove(layer)
            layer._owner = None
            if self._ready_to_build():
                self._build()
            else:
                self._engine = None
                self._rule = None
        return layer

    def _add_unbuilt(self, layer: Layer) -> None:
        """Appends a layer without building (a model being loaded: built once, at the end)."""
        self._check_new_layer(layer)
        layer._attach(self)
        self._layers.append(layer)

    def _check_new_layer(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a fastmlp layer (fastmlp.layers.Dense, ...). "
                            f"Received: {layer!r}")
        if isinstance(layer, InputLayer) and self._layers:
            raise ValueError("An Input can only be the first element of a Sequential model.")
        if any(existing is layer for existing in self._layers):
            raise ValueError(f"Layer {layer.name!r} is already in model {self.name!r}.")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"All layers of a model need unique names; {layer.name!r} is already used.")

    def build(self, input_shape: Optional[Sequence[Optional[int]]] = None) -> None:
        """Creates the weights for samples of `input_shape` (with or without a leading None)."""
        with self._writing("build()"):
            if input_shape is not None:
                shape = tuple(input_shape)
                if shape and shape[0] is None:
                    shape = shape[1:]
                dims = [d for d in shape if d is not None]
                if len(dims) != len(shape):
                    raise ValueError("build() needs every dimension of a sample; only the batch "
                                     f"dimension may be None. Received: input_shape={input_shape!r}")
                self._input_shape = tuple(int(d) for d in dims)
            if self._input_shape is None:
                raise ValueError("The model's input shape is unknown: give the first layer input_shape=..., "
                                 "add an Input(shape=...) first, or call fit/predict with data.")
            self._build()

    def _build(self, initialize: bool = True) -> None:
        shape = self._input_shape
        assert shape is not None  # callers check: the input shape is known
        for layer in self._layers:
            # a layer built for this shape keeps its weights (e.g. when a layer is added later)
            if not (layer.built and layer.input_shape == shape):
                layer.build(shape, initialize=initialize)
            shape = layer._built_output_shape
        dtypes = {layer.dtype for layer in self._layers if layer.weight_specs(layer._built_shape)}
        if len(dtypes) > 1:
            raise ValueError(f"All layers with weights in a model must share one dtype. Received: {sorted(dtypes)}")
        if self._dense_layers():
            self._bind_engine()

    @property
    def input_shape(self) -> Optional[tuple[Optional[int], ...]]:
        """(None, *sample shape)."""
        return None if self._input_shape is None else (None, *tuple(self._input_shape))

    @property
    def output_shape(self) -> tuple[Optional[int], ...]:
        """(None, units of the last layer)."""
        self._require_built()
        return (None, *self._layers[-1]._built_output_shape)


class Functional(Sequential):
    """A model built with the functional API, `Model(inputs=..., outputs=...)`, over a chain of
    layers: a Sequential underneath, listing its InputLayer as Keras does."""

    def __init__(self, inputs: Any = None, outputs: Any = None, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        from fastmlp import functional
        if kwargs:
            raise TypeError(f"Model() got unexpected keyword argument(s) {sorted(kwargs)}")
        layers = functional.chain(inputs, outputs)
        super().__init__(name=name or naming.unique_name("functional"))
        for layer in layers:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        """The layers, the InputLayer first (as Keras lists a functional model's)."""
        return list(self._layers)


def model_from_json(json_string: str) -> Model:
    """A new model (fresh weights) from the JSON of model.to_json() or Keras's.

    Args:
        json_string: the JSON text.
    """
    import json

    from fastmlp.saving.config import model_from_config
    try:
        spec = json.loads(json_string)
    except ValueError as exc:
        raise ValueError(f"model_from_json: not valid JSON ({exc})") from None
    model, _ = model_from_config(spec, "model_from_json")
    if model._input_shape is not None and model._ready_to_build():
        model.build()
    return model


def load_model(filepath: PathLike, compile: bool = True) -> Model:
    """Loads a model saved by fastmlp (`*.fastmlp`, `*.keras`) or by Keras (`*.keras`, legacy
    `*.h5`), as keras.models.load_model does; reading runs no code from the file.

    Args:
        filepath: path of the model file; its name's ending gives the format.
        compile: whether to restore the compile settings and the optimizer's state.
    """
    from fastmlp import saving
    return saving.load_model(filepath, compile=compile)
