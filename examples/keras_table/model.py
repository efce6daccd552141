"""A network of your own for objective.name: keras (docs/own-model.md): dense layers for the
rows of a table, as deep and as wide as the trial says. The harness compiles and trains it
(optimizer, learning rate, epochs, divergence, checkpoints for Hyperband's promotions)."""

import keras
from keras import layers


def build_model(params, input_shape, n_classes):
    # `layers` and `units` are this builder's own parameters (config.yaml's space); dropout and
    # activation are settings of the harness, which reach the builder too.
    model = [keras.Input(shape=input_shape)]
    for _ in range(params["layers"]):
        model.append(layers.Dense(params["units"], activation=params["activation"]))
        if params["dropout"]:
            model.append(layers.Dropout(params["dropout"]))
    model.append(layers.Dense(n_classes, activation="softmax"))
    return model
