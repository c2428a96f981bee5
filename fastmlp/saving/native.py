"""fastmlp's own model file (`*.fastmlp`): a zip, stored uncompressed, holding

- `fastmlp.json`: {"format": "fastmlp", "version": 1, "model": Keras-shaped config,
  "compile": {"loss", "metrics", "optimizer": {"class_name", "config"}} or null,
  "optimizer_state": {"iterations", "slots": [array names]} or null,
  "arrays": {name: {"dtype": "<f4" | "<f8", "shape": [...], "sha256": hex}}};
- one raw little-endian file per array, `arrays/<name>.bin`: `weights` is the model's flat
  parameter vector (Keras's get_weights order, concatenated), `optimizer/<i>` the optimizer's slots.

Reading it runs no code from the file: the config is parsed against what fastmlp has, every size
is checked against the architecture and against the zip's own entry sizes before anything is
read or allocated, and every array against its SHA-256. A wrong file is a ValueError naming the
file and the problem.
"""
import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Optional, Union

import numpy as np

from fastmlp._typing import Config, PathLike
from fastmlp.saving.atomic import atomic_write
from fastmlp.saving.config import model_config, model_from_config, planned_shapes, planned_size

FORMAT, VERSION = "fastmlp", 1
HEADER = "fastmlp.json"
MAX_HEADER_BYTES = 16 << 20
if TYPE_CHECKING:
    from fastmlp.models import Model

DTYPES: dict[str, np.dtype[Any]] = {"<f4": np.dtype("<f4"), "<f8": np.dtype("<f8")}


def _array_entry(name: str) -> str:
    return f"arrays/{name}.bin"


def _write(model: "Model", out: BinaryIO, include_optimizer: bool, weights_only: bool = False) -> None:
    arrays: dict[str, np.ndarray] = {}
    if model.built:
        arrays["weights"] = model.engine.published
    compile_config = optimizer_state = None
    if model.compiled and not weights_only:
        optimizer = model.optimizer
        from fastmlp import metrics as metrics_module
        compile_config = {"loss": model.loss.default_name,
                          "metrics": [metrics_module.serialize(spec) for spec in model._metrics] or None,
                          "optimizer": {"class_name": type(optimizer).__name__,
                                        "config": optimizer.get_config()}}
        rule = model._rule
        if include_optimizer and rule is not None:
            iterations, slots = rule.get_state()
            names = []
            for i, slot in enumerate(slots):
                names.append(f"optimizer/{i}")
                arrays[names[-1]] = slot
            optimizer_state = {"iterations": iterations, "slots": names}
    header: dict[str, Any] = {"format": FORMAT, "version": VERSION, "weights_only": weights_only,
              "model": model_config(model), "compile": compile_config,
              "optimizer_state": optimizer_state, "arrays": {}}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
            header["arrays"][name] = {"dtype": array.dtype.newbyteorder("<").str,
                                      "shape": list(array.shape),
                                      "sha256": hashlib.sha256(data).hexdigest()}
            archive.writestr(_array_entry(name), data)
        archive.writestr(HEADER, json.dumps(header, indent=1))


def save(model: "Model", filepath: PathLike, include_optimizer: bool = True, weights_only: bool = False) -> None:
    """Writes `model` to filepath atomically (a temporary file beside it, fsync, rename)."""
    with atomic_write(filepath) as out:
        _write(model, out, include_optimizer, weights_only)


def model_to_bytes(model: "Model") -> bytes:
    """The model file as bytes (what pickling a model stores)."""
    buffer = io.BytesIO()
    _write(model, buffer, include_optimizer=True)
    return buffer.getvalue()


class _Reader:
    """One open model file: its checked header, and its arrays on request."""

    def __init__(self, source: Union[Path, BinaryIO], label: str) -> None:
        self.label = label
        try:
            self.archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ValueError(f"{label} is not a fastmlp model file (not a readable zip: {exc})") from None
        try:
            info = self.archive.getinfo(HEADER)
        except KeyError:
            raise ValueError(f"{label} is not a fastmlp model file (no {HEADER} in it)") from None
        if info.file_size > MAX_HEADER_BYTES:
            raise ValueError(f"{label}: its {HEADER} claims {info.file_size} bytes (at most "
                             f"{MAX_HEADER_BYTES})")
        try:
            header = json.loads(self._read(HEADER, info.file_size))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{label}: {HEADER} is not valid JSON ({exc})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"{label} is not a fastmlp model file (format {header.get('format')!r} "
                             f"in {HEADER})" if isinstance(header, dict) else f"{label}: {HEADER} is not an object")
        if header.get("version") != VERSION:
            raise ValueError(f"{label} has format version {header.get('version')!r}; this fastmlp "
                             f"reads version {VERSION}. Upgrade fastmlp to read it.")
        if not isinstance(header.get("arrays"), dict):
            raise ValueError(f"{label}: {HEADER} has no array table")
        self.header = header

    def _read(self, entry: str, size: int) -> bytes:
        try:
            with self.archive.open(entry) as f:
                data = f.read(size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
            raise ValueError(f"{self.label}: entry {entry} cannot be read ({exc}); the file is "
                             "truncated or corrupted") from None
        if len(data) != size:
            raise ValueError(f"{self.label}: entry {entry} holds {len(data)} bytes, its directory "
                             f"says {size}; the file is corrupted")
        return data

    def array(self, name: str, shape: Sequence[int]) -> np.ndarray:
        """Array `name`, which must have `shape` (what the architecture needs), checked against
        its declared dtype, shape, entry size and SHA-256 before it is used."""
        entry, nbytes, dtype, meta = self.check(name, shape)
        data = self._read(entry, nbytes)
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            raise ValueError(f"{self.label}: array {name!r} does not match its SHA-256; the file "
                             "is corrupted")
        array: np.ndarray = np.frombuffer(data, dtype=dtype).reshape(shape)
        return array

    def check(self, name: str, shape: Sequence[int]) -> tuple[str, int, "np.dtype[Any]", Config]:
        """(entry, bytes, dtype, meta) of array `name` once its declared dtype and shape are
        `shape`'s and its zip entry has the size they imply: nothing read or allocated yet."""
        meta = self.header["arrays"].get(name)
        if not isinstance(meta, dict):
            raise ValueError(f"{self.label}: array {name!r} is missing")
        dtype = DTYPES.get(str(meta.get("dtype")))
        if dtype is None:
            raise ValueError(f"{self.label}: array {name!r} has dtype {meta.get('dtype')!r}; "
                             f"expected one of {sorted(DTYPES)}")
        if list(meta.get("shape", [])) != list(shape):
            raise ValueError(f"{self.label}: array {name!r} has shape {meta.get('shape')}; the model "
                             f"needs {list(shape)}")
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        entry = _array_entry(name)
        try:
            info = self.archive.getinfo(entry)
        except KeyError:
            raise ValueError(f"{self.label}: entry {entry} is missing") from None
        if info.file_size != nbytes:
            raise ValueError(f"{self.label}: entry {entry} claims {info.file_size} bytes; shape "
                             f"{list(shape)} of {dtype.str} needs {nbytes}")
        return entry, nbytes, dtype, meta


def _open(filepath: PathLike) -> _Reader:
    path = Path(filepath)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}")
    return _Reader(path, str(path))


def _restore(reader: _Reader, compile_model: bool = True) -> "Model":
    header = reader.header
    model, _ = model_from_config(header.get("model"), reader.label)
    if "weights" in header["arrays"]:
        if model._input_shape is None or not model._ready_to_build():
            raise ValueError(f"{reader.label}: weights are stored but the model has no input shape "
                             "or no Dense layer")
        _load_flat_weights(model, reader)
    compile_config = header.get("compile")
    if compile_config and compile_model:
        _compile(model, compile_config, header.get("optimizer_state"), reader)
    return model


def _load_flat_weights(model: "Model", reader: _Reader) -> None:
    # the stored array must be what the architecture implies before anything is built: a
    # config claiming terabytes of weights fails here, against the zip's own entry size
    reader.check("weights", [planned_size(model)])
    model._build_for_loading()
    engine = model.engine
    flat = reader.array("weights", [engine.size])
    if flat.dtype != engine.dtype.newbyteorder("<"):
        raise ValueError(f"{reader.label}: weights are {flat.dtype.str}, the model is {engine.dtype.name}")
    engine.restore(flat)


def _compile(model: "Model", config: Any, state: Optional[Config], reader: _Reader) -> None:
    from fastmlp import optimizers
    if not isinstance(config, dict) or not isinstance(config.get("optimizer"), dict):
        raise ValueError(f"{reader.label}: the compile settings are malformed")
    spec = config["optimizer"]
    try:
        optimizer = optimizers.deserialize(spec.get("class_name"), spec.get("config") or {})
        model.compile(optimizer=optimizer, loss=config.get("loss"), metrics=config.get("metrics"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{reader.label}: the compile settings cannot be restored ({exc})") from None
    if state is None:
        return
    if not model.built or not isinstance(state, dict) or not isinstance(state.get("slots"), list):
        raise ValueError(f"{reader.label}: the optimizer state is malformed")
    engine = model.engine
    rule = engine.new_rule(optimizer)
    expected = rule.get_state()[1]  # the arrays of the rule's state, and their shapes
    if len(state["slots"]) != len(expected):
        raise ValueError(f"{reader.label}: {type(optimizer).__name__} keeps {len(expected)} state "
                         f"arrays; the file has {len(state['slots'])}")
    slots = [reader.array(name, list(want.shape)) for name, want in zip(state["slots"], expected)]
    iterations = state.get("iterations")
    if not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"{reader.label}: the optimizer's iteration count is {iterations!r}")
    rule.set_state(iterations, slots)
    model._rule = rule


def load(filepath: PathLike, compile: bool = True) -> "Model":
    """The model saved at filepath (see the module docstring for what is checked)."""
    return _restore(_open(filepath), compile)


def model_from_bytes(data: bytes) -> "Model":
    """The model of model_to_bytes (unpickling a model)."""
    return _restore(_Reader(io.BytesIO(data), "the pickled model"))


def save_weights(model: "Model", filepath: PathLike) -> None:
    """The weights alone, in this format (`*.weights.fastmlp`)."""
    model._require_built()
    save(model, filepath, include_optimizer=False, weights_only=True)


def load_weights(model: "Model", filepath: PathLike) -> None:
    """Weights from save_weights (or a whole model file) into `model`, whose architecture must
    give the same flat size and layer shapes."""
    reader = _open(filepath)
    model._require_built()
    stored, _ = model_from_config(reader.header.get("model"), reader.label)
    shapes = planned_shapes(stored)
    ours = [[w.shape for w in layer.weights] for layer in model._step_layers() if layer.weights]
    if shapes != ours:
        raise ValueError(f"{reader.label} holds weights of shapes {shapes} (a list per layer with "
                         f"weights); model {model.name!r} has {ours}")
    flat = reader.array("weights", [model.engine.size])
    with model._writing("load_weights()"):
        model.engine.restore(flat.astype(model.engine.dtype))

