"""Keras's way of naming an object in an argument — a name, a {class_name, config} dict, the
object itself or None — resolved in one place for regularizers and constraints (and written
back as Keras writes it)."""
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")


def resolve(identifier: Any, base: type[T], names: dict[str, Callable[[], T]],
            classes: dict[str, Callable[..., T]], what: str, module: str) -> Optional[T]:
    """The object `identifier` names: None and `base` instances pass through; a name of `names`
    or a {class_name, config} of `classes` is constructed; anything else is a ValueError."""
    if identifier is None or isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str) and identifier in names:
        return names[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in classes:
        config = identifier.get("config") or {}
        if not isinstance(config, dict):
            raise ValueError(f"the config of {what} {identifier['class_name']} must be a dict")
        return classes[identifier["class_name"]](**config)
    raise ValueError(f"Could not interpret {what} identifier: {identifier!r}; fastmlp has "
                     f"{', '.join(repr(n) for n in names)}, {', '.join(classes)} ({module})")


def serialize(obj: Any, module: str) -> Optional[dict[str, Any]]:
    """{"module", "class_name", "config", "registered_name"} as Keras writes an object, or None."""
    if obj is None:
        return None
    return {"module": module, "class_name": type(obj).__name__, "config": obj.get_config(),
            "registered_name": None}
