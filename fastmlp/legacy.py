"""The Keras 1 and 2 spellings the tutorials still use, in one place: each is accepted with a
DeprecationWarning naming today's spelling, or refused with a message that says which to use."""
import warnings
from collections.abc import Iterable
from typing import Any, Optional

# old keyword -> today's keyword, per callable (Keras 2 renamed these from Keras 1, or Keras 3
# from Keras 2)
RENAMED: dict[str, dict[str, str]] = {
    "optimizer": {"lr": "learning_rate"},
    "Dense": {"output_dim": "units", "init": "kernel_initializer"},
    "fit": {"nb_epoch": "epochs"},
    "LeakyReLU": {"alpha": "negative_slope"},
}
# old keyword -> why it is refused and what to write instead
REFUSED: dict[str, dict[str, str]] = {
    "optimizer": {"decay": "Keras 2's per-step decay of the learning rate (lr / (1 + decay · "
                           "iterations)) is not supported: pass a constant learning_rate"},
    "Dense": {"W_regularizer": "regularizers are not supported", "b_regularizer": "regularizers are not supported",
              "bias": "write use_bias (Keras 2)"},
    "fit": {"nb_val_samples": "write validation_steps (not supported either) or validation_split",
            "samples_per_epoch": "write steps_per_epoch (not supported): fit runs over all of x"},
}


def translate(where: str, kwargs: dict[str, Any], given: Iterable[str] = (),
              label: Optional[str] = None) -> dict[str, Any]:
    """kwargs with the old spellings of `where` renamed (each with a DeprecationWarning); an
    old spelling that fastmlp does not support, or one whose new spelling the caller also gave
    (`given`: the new names passed explicitly), raises TypeError saying what to write instead.
    `label` names the callable in messages (default: `where`)."""
    label = label or where
    out = dict(kwargs)
    for old, why in REFUSED.get(where, {}).items():
        if old in out:
            raise TypeError(f"{label}({old}=...) is a Keras 1/2 argument: {why}.")
    for old, new in RENAMED.get(where, {}).items():
        if old in out:
            if new in out or new in given:
                raise TypeError(f"{label}() got both {old}= (the old spelling) and {new}=; give {new}= only.")
            warnings.warn(f"{label}({old}=...) is the Keras 1/2 spelling; write {new}=...",
                          DeprecationWarning, stacklevel=3)
            out[new] = out.pop(old)
    return out
