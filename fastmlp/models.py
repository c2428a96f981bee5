"""Sequential models: compile, fit, evaluate, predict, summary, weights — the Keras API over
the compiled engine (fastmlp/engine.py)."""
import math
import sys
from typing import List, Optional, Sequence, Union

import numpy as np

from fastmlp import data as _data, losses as _losses, metrics as _metrics, naming
from fastmlp import optimizers as _optimizers, seeding
from fastmlp.callbacks import Callback, CallbackList, History
from fastmlp.engine import DenseStep, Engine
from fastmlp.layers import Dense, InputLayer, Layer
from fastmlp.progbar import Progbar

# Progress updates per epoch at verbose=1: each is one return from the compiled loop.
_PROGRESS_UPDATES = 20


def _positive_int(name, value, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"Argument `{name}` must be {kind} integer. Received: {name}={value!r}")
    return int(value)


def _verbosity(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"Argument `verbose` must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}")
    return int(verbose)


class Model:
    """Base of the models. Functional models (`Model(inputs, outputs)`) are not supported yet:
    build a `Sequential` instead."""

    def __init__(self, *args, **kwargs):
        if type(self) is Model:
            raise NotImplementedError("fastmlp supports Sequential models only; functional "
                                      "Model(inputs, outputs) is not supported yet.")


class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: optional list of layers to add, in order.
        name: model name; 'sequential', 'sequential_1', ... when None.
    """

    def __init__(self, layers: Optional[Sequence[Layer]] = None, name: Optional[str] = None):
        super().__init__()
        self.name = name or naming.unique_name("sequential")
        self._layers: List[Layer] = []
        self._engine: Optional[Engine] = None
        self._input_shape = None
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history: Optional[History] = None
        self._metric_name: Optional[str] = None
        self._rule = None
        for layer in layers or []:
            self.add(layer)

    # ----- structure -------------------------------------------------------------------------
    @property
    def layers(self) -> List[Layer]:
        """The layers, without the Input (as Keras lists them)."""
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)]

    def add(self, layer: Layer) -> None:
        """Appends a layer; the model is (re)built as soon as its input shape is known."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a fastmlp layer (fastmlp.layers.Dense, ...). "
                            f"Received: {layer!r}")
        if isinstance(layer, InputLayer) and self._layers:
            raise ValueError("An Input can only be the first element of a Sequential model.")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"All layers of a model need unique names; {layer.name!r} is already used.")
        # Keras reads input_shape from the first layer only and ignores it on later ones.
        if not self._layers and layer._input_shape is not None:
            self._input_shape = layer._input_shape
        self._layers.append(layer)
        if self._input_shape is not None and any(isinstance(l, Dense) for l in self._layers):
            self.build()

    @property
    def built(self) -> bool:
        """Whether the weights exist (input shape known)."""
        return self._engine is not None

    def build(self, input_shape=None) -> None:
        """Creates the weights for samples of `input_shape` (with or without a leading None)."""
        if input_shape is not None:
            shape = tuple(input_shape)
            if shape and shape[0] is None:
                shape = shape[1:]
            self._input_shape = tuple(int(d) for d in shape)
        if self._input_shape is None:
            raise ValueError("The model's input shape is unknown: give the first layer input_shape=..., "
                             "add an Input(shape=...) first, or call fit/predict with data.")
        shape = self._input_shape
        steps, dense_layers = [], []
        for layer in self._layers:
            if isinstance(layer, Dense):
                # a layer built for this shape keeps its weights (e.g. when a layer is added later)
                if not (layer.built and layer.input_shape == shape):
                    layer.build(shape)
                steps.append(DenseStep(shape[0], layer.units, layer.activation_name, layer.use_bias))
                dense_layers.append(layer)
            else:
                layer.build(shape)
            shape = layer.output_shape
        dtypes = {layer.dtype for layer in dense_layers}
        if len(dtypes) > 1:
            raise ValueError(f"All Dense layers of a model must share one dtype. Received: {sorted(dtypes)}")
        if not dense_layers:
            return
        engine = Engine(steps, dtypes.pop())
        for index, layer in enumerate(dense_layers):
            kernel, bias = engine.views(index)
            kernel[...] = layer.kernel
            layer.kernel = kernel
            if layer.use_bias:
                bias[...] = layer.bias
                layer.bias = bias
        self._engine = engine
        self._rule = None  # the optimizer's slots belong to the old buffer

    @property
    def input_shape(self):
        """(None, *sample shape)."""
        return None if self._input_shape is None else (None,) + tuple(self._input_shape)

    @property
    def output_shape(self):
        """(None, units of the last layer)."""
        self._require_built()
        return (None,) + tuple(self._layers[-1].output_shape)

    @property
    def dtype(self) -> str:
        self._require_built()
        return self._engine.dtype.name

    def _require_built(self):
        if self._engine is None:
            raise ValueError(f"Model {self.name!r} has not been built yet: its input shape is unknown. "
                             "Give the first layer input_shape=..., or call fit/predict first.")

    def count_params(self) -> int:
        """Number of scalar weights."""
        self._require_built()
        return int(self._engine.size)

    @property
    def weights(self) -> List[np.ndarray]:
        """All weight arrays (views into the flat buffer), in Keras's order."""
        return [w for layer in self.layers for w in layer.weights]

    def get_weights(self) -> List[np.ndarray]:
        """Copies of all weights: [W0 (inputs, units), b0, W1, b1, ...]."""
        self._require_built()
        return [np.array(w) for w in self.weights]

    def set_weights(self, weights: Sequence) -> None:
        """Loads weights in get_weights()'s layout (e.g. from a Keras model's get_weights())."""
        self._require_built()
        weights = list(weights)
        expected = self.weights
        if len(weights) != len(expected):
            raise ValueError(f"set_weights expects a list of {len(expected)} arrays for model "
                             f"{self.name!r}; received {len(weights)}.")
        # check every layer before writing any, so a bad array leaves the model as it was
        checked, start = [], 0
        for layer in self.layers:
            count = len(layer.weights)
            checked.append((layer, layer.checked_weights(weights[start:start + count])))
            start += count
        for layer, arrays in checked:
            for target, value in zip(layer.weights, arrays):
                target[...] = value

    # ----- compile / fit / evaluate / predict -------------------------------------------------
    def compile(self, optimizer: Union[str, _optimizers.Optimizer] = "rmsprop", loss=None,
                metrics=None, loss_weights=None, weighted_metrics=None, run_eagerly=False,
                steps_per_execution=1, jit_compile="auto") -> None:
        """Configures training.

        Args:
            optimizer: name ('rmsprop' default, 'adam', 'sgd', 'adagrad') or an optimizer object.
            loss: name ('sparse_categorical_crossentropy', 'categorical_crossentropy',
                'binary_crossentropy', 'mse', 'mae', ...) or a fastmlp.losses object.
            metrics: 'accuracy' / 'acc' (or a list with it); Keras picks sparse, categorical or
                binary accuracy from the output width and targets, and so does fastmlp.
        """
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='sparse_categorical_crossentropy'.")
        for arg, value in (("loss_weights", loss_weights), ("weighted_metrics", weighted_metrics)):
            if value is not None:
                raise ValueError(f"compile({arg}=...) is not supported by fastmlp.")
        self.optimizer = _optimizers.get(optimizer)
        self.loss = _losses.get(loss)
        self._metric_name = _metrics.parse(metrics)
        self._rule = None
        self.compiled = True

    def _prepare(self, x, y, name_x="x", name_y="y"):
        """Builds if needed and converts (x, y) once for the engine."""
        if not self.built:
            arr = np.asarray(x) if x is not None else None
            if arr is None or arr.ndim < 2:
                raise ValueError(f"Argument `{name_x}` must be an array of shape (batch, features...). "
                                 f"Received: {None if arr is None else arr.shape}")
            self.build(arr.shape[1:])
        self._require_built()
        engine = self._engine
        features = _data.as_features(x, self._input_shape, engine.dtype, name_x)
        labels, targets = _data.as_targets(y, features.shape[0], self.loss.sparse_targets,
                                           engine.n_outputs, engine.dtype, name_y)
        return features, labels, targets

    def _select_loss(self, labels):
        metric = _metrics.resolve(self._metric_name, self._engine.n_outputs, labels is not None)
        self._engine.set_loss(self.loss.default_name, metric)
        return metric

    def _logs(self, loss_sum, acc_sum, count, prefix=""):
        logs = {}
        if self._metric_name is not None:
            logs[prefix + self._metric_name] = acc_sum / count
        logs[prefix + "loss"] = loss_sum / count
        return logs

    def fit(self, x=None, y=None, batch_size: Optional[int] = None, epochs: int = 1,
            verbose: Union[str, int] = "auto", callbacks: Optional[List[Callback]] = None,
            validation_split: float = 0.0, validation_data=None, shuffle: bool = True,
            class_weight=None, sample_weight=None, initial_epoch: int = 0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq: int = 1) -> History:
        """Trains for `epochs` epochs; every step runs in compiled code with the GIL released.

        Args:
            x: inputs, shape (N, *input_shape), any numeric dtype (converted once).
            y: targets: class labels (N,) for sparse cross-entropy, else (N, units).
            batch_size: samples per step, default 32.
            epochs: index of the last epoch (training runs initial_epoch..epochs-1).
            verbose: 'auto' (= 1), 0 silent, 1 progress bar, 2 one line per epoch.
            callbacks: fastmlp.callbacks.Callback objects (epoch-level hooks).
            validation_split: fraction in [0, 1) of the data, taken from the end before
                shuffling, held out for validation.
            validation_data: (x_val, y_val) evaluated at the end of each epoch.
            shuffle: reshuffle the training samples every epoch.
            initial_epoch: epoch at which to start (to resume training).

        Returns:
            A History whose `.history` maps 'loss', the metric and their 'val_' versions to
            per-epoch lists.
        """
        if not self.compiled:
            raise RuntimeError("You must call compile() before fit(): model.compile(optimizer=..., loss=...).")
        for arg, value in (("class_weight", class_weight), ("sample_weight", sample_weight),
                           ("steps_per_epoch", steps_per_epoch), ("validation_steps", validation_steps)):
            if value is not None:
                raise ValueError(f"fit({arg}=...) is not supported by fastmlp.")
        batch_size = 32 if batch_size is None else _positive_int("batch_size", batch_size)
        val_batch = batch_size if validation_batch_size is None else _positive_int("validation_batch_size", validation_batch_size)
        epochs = _positive_int("epochs", epochs, allow_zero=True)
        initial_epoch = _positive_int("initial_epoch", initial_epoch, allow_zero=True)
        validation_freq = _positive_int("validation_freq", validation_freq)
        verbose = _verbosity(verbose)
        if not (isinstance(validation_split, (int, float)) and 0 <= validation_split < 1):
            raise ValueError(f"Argument `validation_split` must be in [0, 1). Received: validation_split={validation_split!r}")

        features, labels, targets = self._prepare(x, y)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("Argument `validation_data` must be a tuple (x_val, y_val).")
            val = self._prepare(validation_data[0], validation_data[1], "validation_data[0]", "validation_data[1]")
        elif validation_split:
            split = int(features.shape[0] * (1 - validation_split))
            if split == 0 or split == features.shape[0]:
                raise ValueError(f"validation_split={validation_split} leaves no samples on one side "
                                 f"of the split of {features.shape[0]} samples.")
            val = (features[split:], None if labels is None else labels[split:],
                   None if targets is None else targets[split:])
            features = features[:split]
            labels = None if labels is None else labels[:split]
            targets = None if targets is None else targets[:split]

        self._select_loss(labels)
        if self._rule is None or self._rule.size != self._engine.size:
            self._rule = self.optimizer.build(self._engine.size, self._engine.dtype)
        engine, rule = self._engine, self._rule
        n = features.shape[0]
        steps = math.ceil(n / batch_size)
        self.history = History()
        callback_list = CallbackList([self.history] + list(callbacks or []), self,
                                     {"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training = False
        rng = seeding.generator()
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            order = rng.permutation(n).astype(np.int64) if shuffle else None
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", file=sys.stdout)
            bar = Progbar(steps, verbose)
            chunk = max(1, math.ceil(steps / _PROGRESS_UPDATES)) if verbose == 1 else steps
            loss_sum = acc_sum = 0.0
            count = 0
            for first in range(0, steps, chunk):
                part_loss, part_acc, part_count, bad_step = engine.train(
                    features, labels, targets, order, first, min(chunk, steps - first), batch_size, rule)
                loss_sum += part_loss
                acc_sum += part_acc
                count += part_count
                if bad_step >= 0:
                    raise FloatingPointError(
                        f"The loss became NaN or infinite at epoch {epoch + 1}, step {bad_step + 1} of "
                        f"{steps}; training stopped before applying that step. Lower the learning rate, "
                        "scale the inputs, or check the data.")
                bar.update(first + min(chunk, steps - first), self._logs(loss_sum, acc_sum, count))
            logs = self._logs(loss_sum, acc_sum, count)
            if val is not None and (epoch + 1) % validation_freq == 0:
                v_loss, v_acc = engine.evaluate(val[0], val[1], val[2], val_batch)
                logs.update(self._logs(v_loss, v_acc, val[0].shape[0], "val_"))
            bar.finish(logs)
            callback_list.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        callback_list.on_train_end()
        return self.history

    def evaluate(self, x=None, y=None, batch_size: Optional[int] = None,
                 verbose: Union[str, int] = "auto", return_dict: bool = False, **kwargs):
        """Loss (and metric) of the model on (x, y).

        Args:
            x, y: as for fit().
            batch_size: default 32.
            verbose: 'auto' (= 1), 0 or 1.
            return_dict: return {'loss': ..., metric: ...} instead.

        Returns:
            The scalar loss without metrics, else [loss, metric] (as Keras).
        """
        if kwargs:
            raise TypeError(f"evaluate() got unexpected keyword argument(s) {sorted(kwargs)}")
        if not self.compiled:
            raise RuntimeError("You must call compile() before evaluate().")
        batch_size = 32 if batch_size is None else _positive_int("batch_size", batch_size)
        verbose = _verbosity(verbose)
        features, labels, targets = self._prepare(x, y)
        self._select_loss(labels)
        bar = Progbar(math.ceil(features.shape[0] / batch_size), verbose)
        loss_sum, acc_sum = self._engine.evaluate(features, labels, targets, batch_size)
        logs = self._logs(loss_sum, acc_sum, features.shape[0])
        bar.finish(logs)
        if return_dict:
            return logs
        if self._metric_name is None:
            return logs["loss"]
        return [logs["loss"], logs[self._metric_name]]

    def predict(self, x, batch_size: Optional[int] = None, verbose: Union[str, int] = "auto",
                **kwargs) -> np.ndarray:
        """Outputs of the model for x, shape (N, units), in the model's dtype (float32).

        Args:
            x: inputs, shape (N, *input_shape).
            batch_size: default 32 (the result does not depend on it).
            verbose: 'auto' (= 1), 0 or 1.
        """
        if kwargs:
            raise TypeError(f"predict() got unexpected keyword argument(s) {sorted(kwargs)}")
        batch_size = 32 if batch_size is None else _positive_int("batch_size", batch_size)
        verbose = _verbosity(verbose)
        features = self._features(x)
        bar = Progbar(math.ceil(features.shape[0] / batch_size), verbose)
        out = self._engine.predict(features, batch_size)
        bar.finish()
        return out

    def _features(self, x) -> np.ndarray:
        """x converted once for the engine, building the model from its shape if needed."""
        if not self.built:
            self.build(np.shape(x)[1:])
        return _data.as_features(x, self._input_shape, self._engine.dtype)

    def predict_on_batch(self, x) -> np.ndarray:
        """Outputs for x as one batch, without progress output."""
        features = self._features(x)
        return self._engine.predict(features, max(1, features.shape[0]))

    def __call__(self, x) -> np.ndarray:
        """model(x): the outputs for x as one batch (NumPy in, NumPy out)."""
        return self.predict_on_batch(x)

    # ----- summary -----------------------------------------------------------------------------
    def summary(self, line_length: Optional[int] = None, print_fn=None) -> None:
        """Prints the Keras table of layers, output shapes and parameter counts.

        Args:
            line_length: total width of the table (default 77 characters, as Keras).
            print_fn: function called with the text (default print).
        """
        print_fn = print_fn or print
        widths = [33, 24, 15]
        if line_length:
            scale = line_length / (sum(widths) + 4)
            widths = [max(10, int(w * scale)) for w in widths]
        def row(cells, left, sep, right, align=("<", "<", ">")):
            body = sep.join(f" {c:{a}{w - 2}} " for c, w, a in zip(cells, widths, align))
            return left + body + right
        def rule(left, mid, right, fill):
            return left + mid.join(fill * w for w in widths) + right
        lines = [f'Model: "{self.name}"',
                 rule("┏", "┳", "┓", "━"),
                 row(["Layer (type)", "Output Shape", "Param #"], "┃", "┃", "┃"),
                 rule("┡", "╇", "┩", "━")]
        layers = self.layers
        for i, layer in enumerate(layers):
            if layer.built:
                shape = "(None, " + ", ".join(map(str, layer.output_shape)) + ")"
                params = f"{layer.count_params():,}"
            else:
                shape, params = "?", "0 (unbuilt)"
            lines.append(row([f"{layer.name} ({type(layer).__name__})", shape, params], "│", "│", "│"))
            if i < len(layers) - 1:
                lines.append(rule("├", "┼", "┤", "─"))
        lines.append(rule("└", "┴", "┘", "─"))
        total = self._engine.size if self.built else 0
        itemsize = self._engine.dtype.itemsize if self.built else 4
        size = _format_bytes(total * itemsize)
        lines += [f" Total params: {total:,} ({size})",
                  f" Trainable params: {total:,} ({size})",
                  " Non-trainable params: 0 (0.00 B)"]
        print_fn("\n".join(lines))


def _format_bytes(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.2f} B"
