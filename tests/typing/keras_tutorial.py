"""The Keras tutorial as a user writes it, for `mypy --strict` (CI runs it; pytest does not
collect it). It fails when a public name loses its hints or they go wrong: assert_type pins
what the calls return, and each `type: ignore[...]` below marks a call that must stay a type
error (strict mode reports an ignore that no longer ignores anything)."""
from typing import Union

import numpy as np
from typing_extensions import assert_type

import fastmlp as keras
from fastmlp.callbacks import History

(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
assert_type(x_train, np.ndarray)
x_train, x_test = x_train / 255.0, x_test / 255.0

model = keras.Sequential([
    keras.layers.Flatten(input_shape=(28, 28)),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(10, activation="softmax"),
])
model.summary()
model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=5, validation_split=0.1,
                    callbacks=[keras.callbacks.EarlyStopping(patience=2)])
assert_type(history, History)
result = model.evaluate(x_test, y_test, verbose=2)
assert_type(result, Union[float, list[float], dict[str, float]])
probabilities = model.predict(x_test[:5])
assert_type(probabilities, np.ndarray)
assert_type(model(x_test[:1]), np.ndarray)
assert_type(model.get_weights(), list[np.ndarray])
assert_type(model.count_params(), int)

inputs = keras.Input(shape=(784,))
outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Dense(64, activation="relu")(inputs))
functional = keras.Model(inputs=inputs, outputs=outputs)
functional.save("model.fastmlp")
assert_type(keras.models.load_model("model.fastmlp"), keras.Model)
assert_type(keras.utils.to_categorical([0, 2, 1], num_classes=3), np.ndarray)
assert_type(keras.activations.relu(np.array([-1.0, 1.0])), np.ndarray)

# calls that must stay type errors
model.fit(x_train, y_train, epochs="5")  # type: ignore[arg-type]
keras.layers.Dense(10, activation=3)  # type: ignore[arg-type]
model.compile(optimizer=0.01, loss="mse")  # type: ignore[arg-type]
keras.models.load_model(42)  # type: ignore[arg-type]
