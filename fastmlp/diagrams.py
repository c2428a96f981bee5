"""Model diagrams, as Keras's `model_to_dot` and `plot_model` draw them: one box per layer
(name, type, input and output shapes) and an arrow from each layer to the next.

A fastmlp model is a chain, so fastmlp lays it out itself: SVG needs nothing beyond the
standard library, PNG uses matplotlib; Graphviz's `dot` is used instead when it is installed
and asked for (`create(prog="dot")`).
"""
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from fastmlp.models import Model

_FONT, _LINE, _PAD, _GAP, _CHAR = 13, 18, 10, 34, 7.4  # px: font, line height, padding, arrow, glyph


def _shape(shape: tuple[Optional[int], ...]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _boxes(model: "Model", show_shapes: bool, show_layer_names: bool, show_dtype: bool = False) -> list[list[str]]:
    """The text lines of each layer's box, input to output."""
    boxes: list[list[str]] = []
    shape = model._built_shape
    layers = model._all_layers()
    if not layers or type(layers[0]).__name__ != "InputLayer":
        boxes.append(["input_layer (InputLayer)" if show_layer_names else "InputLayer"]
                     + ([f"Output shape: {_shape((None, *shape))}"] if show_shapes else []))
    for layer in layers:
        kind = type(layer).__name__
        lines = [f"{layer.name} ({kind})" if show_layer_names else kind]
        if show_shapes:
            out = layer._built_output_shape
            if kind != "InputLayer":
                lines.append(f"Input shape: {_shape((None, *shape))}")
            lines.append(f"Output shape: {_shape((None, *out))}")
            shape = out
        if show_dtype:
            lines.append(f"dtype: {layer.dtype}")
        boxes.append(lines)
    return boxes


class Dot:
    """A model diagram, as Keras's model_to_dot returns it (a pydot-like object)."""

    def __init__(self, model: "Model", show_shapes: bool, show_layer_names: bool, rankdir: str,
                 show_dtype: bool) -> None:
        if rankdir not in ("TB", "LR"):
            raise ValueError(f"rankdir must be 'TB' (top to bottom) or 'LR' (left to right); received {rankdir!r}")
        self.boxes = _boxes(model, show_shapes, show_layer_names, show_dtype)
        self.rankdir, self.name = rankdir, model.name

    def to_string(self) -> str:
        """The diagram in Graphviz's DOT language."""
        lines = [f'digraph "{self.name}" {{', f"  rankdir={self.rankdir};",
                 '  node [shape=record, fontname="Helvetica", fontsize=11];']
        for i, box in enumerate(self.boxes):
            label = "|".join(part.replace("{", r"\{").replace("}", r"\}").replace('"', r'\"')
                             .replace("|", r"\|").replace("<", r"\<").replace(">", r"\>") for part in box)
            lines.append(f'  n{i} [label="{{{label}}}"];')
        lines += [f"  n{i} -> n{i + 1};" for i in range(len(self.boxes) - 1)]
        return "\n".join([*lines, "}"]) + "\n"

    def create(self, prog: str = "dot", format: str = "svg") -> bytes:
        """The rendered diagram: Graphviz's `prog` when it is installed, else fastmlp's own
        layout (SVG; PNG through matplotlib)."""
        if format not in ("svg", "png"):
            raise ValueError(f"format must be 'svg' or 'png'; received {format!r}")
        if prog and shutil.which(prog):
            done = subprocess.run([prog, f"-T{format}"], input=self.to_string().encode(),
                                  capture_output=True, timeout=60)
            if done.returncode == 0:
                return done.stdout
        return self.svg().encode() if format == "svg" else self.png()

    def _layout(self) -> tuple[list[tuple[float, float, float, float]], float, float]:
        rects: list[tuple[float, float, float, float]]
        pos: float
        sizes = [(max(len(line) for line in box) * _CHAR + 2 * _PAD, len(box) * _LINE + 2 * _PAD)
                 for box in self.boxes]
        rects, pos = [], _GAP / 2
        if self.rankdir == "TB":
            width = max(w for w, _ in sizes) + _GAP
            for w, h in sizes:
                rects.append(((width - w) / 2, pos, w, h))
                pos += h + _GAP
            return rects, width, pos - _GAP / 2
        height = max(h for _, h in sizes) + _GAP
        for w, h in sizes:
            rects.append((pos, (height - h) / 2, w, h))
            pos += w + _GAP
        return rects, pos - _GAP / 2, height

    def svg(self) -> str:
        """The diagram as SVG text, laid out by fastmlp (no dependency)."""
        rects, width, height = self._layout()
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
               f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" '
               f'font-size="{_FONT}">',
               '<defs><marker id="arrow" markerWidth="10" markerHeight="8" refX="9" refY="4" '
               'orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="#444"/></marker></defs>',
               f"<title>{escape(self.name)}</title>"]
        for (x, y, w, h), box in zip(rects, self.boxes):
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
                       'fill="#eef3fb" stroke="#3b6fb6" stroke-width="1.4"/>')
            for j, line in enumerate(box):
                weight = ' font-weight="bold"' if j == 0 else ""
                out.append(f'<text x="{x + w / 2:.1f}" y="{y + _PAD + (j + 0.75) * _LINE:.1f}" '
                           f'text-anchor="middle"{weight}>{escape(line)}</text>')
        for (x0, y0, w0, h0), (x1, y1, w1, h1) in zip(rects, rects[1:]):
            if self.rankdir == "TB":
                a, b, c, d = x0 + w0 / 2, y0 + h0, x1 + w1 / 2, y1 - 2
            else:
                a, b, c, d = x0 + w0, y0 + h0 / 2, x1 - 2, y1 + h1 / 2
            out.append(f'<line x1="{a:.1f}" y1="{b:.1f}" x2="{c:.1f}" y2="{d:.1f}" stroke="#444" '
                       'stroke-width="1.4" marker-end="url(#arrow)"/>')
        return "\n".join([*out, "</svg>"]) + "\n"

    def png(self, dpi: int = 100) -> bytes:
        """The diagram as PNG, drawn with matplotlib."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
        except ImportError as exc:
            raise ImportError("a PNG diagram needs matplotlib (pip install matplotlib) or Graphviz's "
                              "dot program; SVG needs neither") from exc
        import io
        rects, width, height = self._layout()
        fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.axis("off")
        for (x, y, w, h), box in zip(rects, self.boxes):
            ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=6",
                                        facecolor="#eef3fb", edgecolor="#3b6fb6", linewidth=1.4))
            for j, line in enumerate(box):
                ax.text(x + w / 2, y + _PAD + (j + 0.5) * _LINE, line, ha="center", va="center",
                        fontsize=_FONT * 72 / dpi, fontweight="bold" if j == 0 else "normal")
        for (x0, y0, w0, h0), (x1, y1, w1, h1) in zip(rects, rects[1:]):
            start, end = ((x0 + w0 / 2, y0 + h0), (x1 + w1 / 2, y1)) if self.rankdir == "TB" else \
                ((x0 + w0, y0 + h0 / 2), (x1, y1 + h1 / 2))
            ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="#444"))
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        plt.close(fig)
        return buffer.getvalue()


def model_to_dot(model: "Model", show_shapes: bool = False, show_dtype: bool = False,
                 show_layer_names: bool = True, rankdir: str = "TB", expand_nested: bool = False,
                 dpi: int = 200, subgraph: bool = False, show_layer_activations: bool = False,
                 show_trainable: bool = False) -> Dot:
    """A diagram of the model (Keras's model_to_dot): `.to_string()` gives DOT text,
    `.create(prog='dot', format='svg')` the rendered bytes.

    Args:
        model: a built model.
        show_shapes: show each layer's input and output shapes.
        show_dtype: show each layer's dtype.
        show_layer_names: show the layer names (else only their types).
        rankdir: 'TB' (top to bottom) or 'LR' (left to right).
    """
    return Dot(model, show_shapes, show_layer_names, rankdir, show_dtype)


def plot_model(model: "Model", to_file: str = "model.png", show_shapes: bool = False,
               show_dtype: bool = False, show_layer_names: bool = True, rankdir: str = "TB",
               dpi: int = 96, **kwargs: Any) -> Path:
    """Writes a diagram of the model to `to_file` (Keras's plot_model): `.svg` needs nothing,
    `.png` matplotlib or Graphviz, `.dot` the DOT text. Returns the path.

    Args:
        model: a built model.
        to_file: the file; its ending gives the format.
        show_shapes, show_dtype, show_layer_names, rankdir: as model_to_dot.
    """
    dot = model_to_dot(model, show_shapes, show_dtype, show_layer_names, rankdir)
    path = Path(to_file)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(dot.svg())
    elif suffix == ".png":
        path.write_bytes(dot.create(prog="dot", format="png"))
    elif suffix == ".dot":
        path.write_text(dot.to_string())
    else:
        raise ValueError(f"plot_model writes .svg, .png or .dot files; received {str(to_file)!r}")
    return path
