"""Default object names as Keras gives them: dense, dense_1, dense_2, ..."""
import re

_counts: dict[str, int] = {}


def snake_case(class_name: str) -> str:
    """'BatchNormalization' -> 'batch_normalization', 'LeakyReLU' -> 'leaky_re_lu' (Keras's
    to_snake_case, keras/src/utils/naming.py)."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def unique_name(base: str) -> str:
    """The next free name for `base` in this session: base, base_1, base_2, ..."""
    n = _counts.get(base, 0)
    _counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def clear_session() -> None:
    """Restarts the default names (as keras.backend.clear_session does)."""
    _counts.clear()
