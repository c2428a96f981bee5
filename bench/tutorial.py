"""The Keras tutorial model on real Fashion-MNIST (48,000 train / 12,000 validation, split with
seed 42): validation accuracy after 5 Adam epochs and the time per epoch, at batch 32 and 128.

    FASTMLP_DATA=../shared/data python bench/tutorial.py
"""
import statistics
import time

import numpy as np

import fastmlp as keras


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch (training steps and the validation pass)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def main():
    (x_train, y_train), _ = keras.datasets.fashion_mnist.load_data()
    order = np.random.default_rng(42).permutation(len(x_train))
    x, y = x_train[order[:48000]] / 255, y_train[order[:48000]]
    x_val, y_val = x_train[order[48000:]] / 255, y_train[order[48000:]]
    for batch_size in (32, 128):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(name="Fashion_MNIST_DNN")
        model.add(keras.layers.Flatten(input_shape=(28, 28)))
        model.add(keras.layers.Dense(100, activation="relu", name="hidden"))
        model.add(keras.layers.Dense(10, activation="softmax", name="output"))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
        timer = EpochTimer()
        history = model.fit(x, y, batch_size=batch_size, epochs=5, verbose=0,
                            validation_data=(x_val, y_val), callbacks=[timer])
        times = timer.seconds
        print(f"batch {batch_size}: val_accuracy after 5 epochs {history.history['val_accuracy'][-1]:.4f}, "
              f"median epoch {statistics.median(times):.3f} s (48,000 samples + validation), "
              f"{48000 / statistics.median(times) / 1e3:.0f}k samples/s")


if __name__ == "__main__":
    main()
