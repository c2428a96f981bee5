"""Datasets as Keras ships them: `fashion_mnist.load_data()`, `mnist.load_data()`."""
from fastmlp.datasets import fashion_mnist, mnist

__all__ = ["fashion_mnist", "mnist"]
