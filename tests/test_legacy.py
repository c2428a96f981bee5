"""The Keras 1/2 spellings of the tutorials: accepted with a DeprecationWarning naming today's
spelling (and meaning what they meant), or refused with a message saying what to write."""
import numpy as np
import pytest

import fastmlp as keras


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam"])
def test_lr_is_learning_rate(name):
    with pytest.warns(DeprecationWarning, match=rf"{name}\(lr=\.\.\.\).*write learning_rate="):
        optimizer = getattr(keras.optimizers, name)(lr=0.25)
    assert optimizer.learning_rate == 0.25
    with pytest.raises(TypeError, match="decay.*constant learning_rate"):
        getattr(keras.optimizers, name)(lr=0.1, decay=1e-6)


def test_keras1_dense_and_fit(rng):
    # the Keras 1 tutorial line: Dense(8, input_dim=4, init='uniform', activation='relu')
    with pytest.warns(DeprecationWarning, match="write kernel_initializer="):
        first = keras.layers.Dense(8, input_dim=4, init="uniform", activation="relu")
    assert isinstance(first.kernel_initializer, keras.initializers.RandomUniform)
    with pytest.warns(DeprecationWarning, match="write units="):
        second = keras.layers.Dense(output_dim=3, activation="softmax")
    assert second.units == 3
    model = keras.Sequential([first, second])
    kernel = model.get_weights()[0]
    assert np.abs(kernel).max() <= 0.05 and kernel.std() > 0.02  # Keras 1's U(-0.05, 0.05)
    with pytest.warns(DeprecationWarning, match="lr="):
        model.compile(optimizer=keras.optimizers.RMSprop(lr=0.001), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    x = rng.standard_normal((40, 4)).astype(np.float32)
    with pytest.warns(DeprecationWarning, match="nb_epoch=.*write epochs="):
        history = model.fit(x, rng.integers(0, 3, 40), nb_epoch=3, verbose=0)
    assert len(history.history["loss"]) == 3 and model.optimizer.iterations == 6


@pytest.mark.parametrize("make,match", [
    (lambda: keras.layers.Dense(3, output_dim=4), r"both output_dim= \(the old spelling\) and units="),
    (lambda: keras.layers.Dense(3, init="uniform", kernel_initializer="he_normal"), "both init="),
    (lambda: keras.layers.Dense(3, W_regularizer="l2"), "W_regularizer.*Keras 1/2 argument"),
    (lambda: keras.Sequential([keras.layers.Dense(1, input_dim=1)]).fit(
        np.ones((2, 1)), np.ones(2), samples_per_epoch=2), "samples_per_epoch"),
    (lambda: keras.optimizers.Adam(lr=0.1, learning_rate=0.2), "both lr=.*and learning_rate="),
])
def test_old_spellings_that_cannot_be_mapped_say_what_to_write(make, match):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused without a deprecation warning first
        with pytest.raises(TypeError, match=match):
            make()
