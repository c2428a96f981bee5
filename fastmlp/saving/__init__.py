"""Model files: fastmlp's own format (`*.fastmlp`) and Keras's (`*.keras`, legacy `*.h5`), by
the file's name. The Keras formats need h5py (`pip install "fastmlp[keras]"`), imported only
when such a file is read or written."""
from pathlib import Path
from typing import TYPE_CHECKING

from fastmlp._typing import PathLike

if TYPE_CHECKING:
    from fastmlp.models import Model


def _kind(filepath: PathLike) -> str:
    name = str(filepath).lower()
    if name.endswith(".weights.h5"):
        return "keras-weights"
    if name.endswith(".weights.fastmlp"):
        return "weights"
    if name.endswith(".fastmlp"):
        return "fastmlp"
    if name.endswith(".keras"):
        return "keras"
    if name.endswith((".h5", ".hdf5")):
        return "h5"
    raise ValueError(f"Unknown model file type for {str(filepath)!r}: use a name ending in "
                     "'.fastmlp' (fastmlp's format), '.keras' (Keras 3) or '.h5' (legacy Keras, "
                     "read only)")


def save_model(model: "Model", filepath: PathLike, include_optimizer: bool = True) -> None:
    """Saves a model to `*.fastmlp` or `*.keras` (see Model.save)."""
    kind = _kind(filepath)
    if kind == "fastmlp":
        from fastmlp.saving import native
        native.save(model, filepath, include_optimizer)
    elif kind == "keras":
        from fastmlp.saving import keras_v3
        keras_v3.save(model, filepath, include_optimizer)
    else:
        raise ValueError(f"model.save writes '.fastmlp' or '.keras' files; received {str(filepath)!r} "
                         "(legacy '.h5' is read only; weights alone: save_weights)")


def load_model(filepath: PathLike, compile: bool = True) -> "Model":
    """Loads a model saved by fastmlp (`*.fastmlp`, `*.keras`) or by Keras (`*.keras`, `*.h5`).

    Args:
        filepath: path of the file; its ending gives the format.
        compile: whether to restore the compile settings and optimizer state.

    Returns:
        A Sequential model (a Keras functional chain loads as the equivalent Sequential).
    """
    kind = _kind(filepath)
    if not Path(filepath).is_file():
        raise FileNotFoundError(f"No model file at {filepath}")
    if kind == "fastmlp":
        from fastmlp.saving import native
        return native.load(filepath, compile)
    if kind == "keras":
        from fastmlp.saving import keras_v3
        return keras_v3.load(filepath, compile)
    if kind == "h5":
        from fastmlp.saving import legacy_h5
        return legacy_h5.load(filepath, compile)
    raise ValueError(f"{filepath} holds weights only: build the model, then model.load_weights(path)")


def save_weights(model: "Model", filepath: PathLike) -> None:
    """Saves the weights alone: `*.weights.fastmlp`, or Keras's `*.weights.h5`."""
    kind = _kind(filepath)
    if kind == "weights":
        from fastmlp.saving import native
        native.save_weights(model, filepath)
    elif kind == "keras-weights":
        from fastmlp.saving import keras_v3
        keras_v3.save_weights(model, filepath)
    else:
        raise ValueError(f"save_weights writes '.weights.fastmlp' or '.weights.h5' files; received "
                         f"{str(filepath)!r}")


def load_weights(model: "Model", filepath: PathLike) -> None:
    """Loads weights saved by save_weights (or by Keras) into a built model."""
    kind = _kind(filepath)
    if kind in ("weights", "fastmlp"):
        from fastmlp.saving import native
        native.load_weights(model, filepath)
    elif kind == "keras-weights":
        from fastmlp.saving import keras_v3
        keras_v3.load_weights(model, filepath)
    else:
        raise ValueError(f"load_weights reads '.weights.fastmlp', '.fastmlp' or '.weights.h5' files; "
                         f"received {str(filepath)!r}")
