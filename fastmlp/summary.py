"""model.summary(): the Keras 3 table of layers, output shapes and parameter counts."""
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from fastmlp.models import Model


def render(model: "Model", line_length: Optional[int] = None) -> str:
    """The summary table of `model` as Keras 3 prints it (77 characters wide by default)."""
    widths = [33, 24, 15]
    if line_length:
        scale = line_length / (sum(widths) + 4)
        widths = [max(10, int(w * scale)) for w in widths]

    def row(cells: Sequence[str], left: str, sep: str, right: str,
            align: Sequence[str] = ("<", "<", ">")) -> str:
        # a cell too long for its column wraps at spaces onto more lines, as Keras's table does
        wrapped = [textwrap.wrap(c, w - 2) or [""] for c, w in zip(cells, widths)]
        height = max(len(lines) for lines in wrapped)
        return "\n".join(
            left + sep.join(f" {(col[k] if k < len(col) else ''):{a}{w - 2}} "
                            for col, w, a in zip(wrapped, widths, align)) + right
            for k in range(height))

    def rule(left: str, mid: str, right: str, fill: str) -> str:
        return left + mid.join(fill * w for w in widths) + right

    lines: list[str] = [f'Model: "{model.name}"',
                        rule("┏", "┳", "┓", "━"),
                        row(["Layer (type)", "Output Shape", "Param #"], "┃", "┃", "┃"),
                        rule("┡", "╇", "┩", "━")]
    layers = model.layers
    for i, layer in enumerate(layers):
        if layer.built:
            shape = "(None, " + ", ".join(map(str, layer._built_output_shape)) + ")"
            params = f"{layer.count_params():,}"
        else:
            shape, params = "?", "0 (unbuilt)"
        lines.append(row([f"{layer.name} ({type(layer).__name__})", shape, params], "│", "│", "│"))
        if i < len(layers) - 1:
            lines.append(rule("├", "┼", "┤", "─"))
    lines.append(rule("└", "┴", "┘", "─"))
    total = model.count_params() if model.built else 0
    trainable = model.engine.trainable_size if model.built else 0
    itemsize = 8 if model.built and model.dtype == "float64" else 4
    lines += [f" Total params: {total:,} ({format_bytes(total * itemsize)})",
              f" Trainable params: {trainable:,} ({format_bytes(trainable * itemsize)})",
              f" Non-trainable params: {total - trainable:,} ({format_bytes((total - trainable) * itemsize)})"]
    return "\n".join(lines)


def format_bytes(n: int) -> str:
    """Keras's byte sizes: '310.59 KB', '1.21 MB', '0.00 B'."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.2f} B"
