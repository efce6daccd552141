"""Keras builders as a user writes them for `objective.name: keras`
(tests/objectives/test_keras_builder.py): each is `tests/helpers/user_models.py:<name>`."""

from __future__ import annotations


def small_dense(params, input_shape, n_classes):
    """A list of layers (a Sequential of them), sized by `width`, a parameter of the user's
    own that the harness does not know."""
    import keras
    from keras import layers

    return [keras.Input(shape=input_shape), layers.Flatten(),
            layers.Dense(params["width"], activation=params["activation"]),
            layers.Dense(n_classes, activation="softmax")]


def functional(input_shape, n_classes):
    """A functional model, and no `params`: only fixed choices."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape)
    hidden = layers.Dense(8, activation="relu")(layers.Flatten()(inputs))
    return keras.Model(inputs, layers.Dense(n_classes, activation="softmax")(hidden))


def three_outputs(input_shape):
    import keras
    from keras import layers

    return keras.Sequential([keras.Input(shape=input_shape), layers.Flatten(),
                             layers.Dense(3, activation="softmax")])


def raises(params):
    raise ValueError(f"width {params['width']} is too wide")


def not_a_model():
    return 5


def asks_for_epochs(params, epochs):
    return None
