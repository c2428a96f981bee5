"""Model diagrams: model_to_dot's DOT text and SVG (with or without Graphviz), plot_model's SVG,
PNG and DOT files; each names every layer and shape."""
import shutil
import xml.etree.ElementTree as ET

import pytest

import fastmlp as keras
from fastmlp.utils import model_to_dot, plot_model


@pytest.fixture
def model():
    m = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28)),
                          keras.layers.Dense(100, activation="relu", name="hidden"),
                          keras.layers.Dense(10, activation="softmax", name="output")], name="dnn")
    return m


WANTED = ["flatten (Flatten)", "hidden (Dense)", "output (Dense)", "Input shape: (None, 28, 28)",
          "Output shape: (None, 784)", "Input shape: (None, 100)", "Output shape: (None, 10)"]


def _texts(svg: bytes):
    root = ET.fromstring(svg)
    return ["".join(node.itertext()) for node in root.iter() if node.tag.endswith("text")]


def test_svg_of_fastmlps_own_layout_names_every_layer_and_shape(model, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda prog: None)  # as on a machine without Graphviz
    svg = model_to_dot(model, show_shapes=True).create(prog="dot", format="svg")
    texts = _texts(svg)
    for want in WANTED:
        assert want in texts, (want, texts)
    root = ET.fromstring(svg)
    assert len([n for n in root.iter() if n.tag.endswith("rect")]) == 4  # input + 3 layers
    assert len([n for n in root.iter() if n.tag.endswith("line")]) == 3


def test_dot_text_and_options(model):
    dot = model_to_dot(model, show_shapes=True, rankdir="LR").to_string()
    assert dot.startswith('digraph "dnn" {') and "rankdir=LR;" in dot
    assert dot.count("->") == 3 and "hidden (Dense)" in dot and r"\(None, 100\)" not in dot
    names_only = model_to_dot(model, show_layer_names=False).to_string()
    assert "hidden" not in names_only and "Dense" in names_only
    with pytest.raises(ValueError, match="rankdir"):
        model_to_dot(model, rankdir="BT")


def test_plot_model_files(model, tmp_path):
    svg = plot_model(model, to_file=tmp_path / "m.svg", show_shapes=True)
    assert all(w in _texts(svg.read_bytes()) for w in WANTED)
    png = plot_model(model, to_file=tmp_path / "m.png", show_shapes=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "digraph" in plot_model(model, to_file=tmp_path / "m.dot").read_text()
    with pytest.raises(ValueError, match=r"\.svg, \.png or \.dot"):
        plot_model(model, to_file=tmp_path / "m.pdf")


def test_unbuilt_models_say_so():
    with pytest.raises(ValueError, match="not been built"):
        model_to_dot(keras.Sequential([keras.layers.Dense(2)]))
