"""The seed write-up's dense network for flattened images, on TensorFlow like the CNN.

Flatten -> Dense(units, activation, kernel_initializer) -> Dropout(dropout) ->
Dense(units, activation, kernel_initializer) -> Dense(classes, softmax, kernel_initializer);
the write-up's defaults: 64 units, dropout 0.1, the `uniform` initializer. Training, scoring
and the held-out test: hpstudy.objectives.keras_classifier.
"""

from __future__ import annotations

from hpstudy.objectives.keras_classifier import COUNT, TUNABLE, KerasClassifier


class DenseNetwork(KerasClassifier):
    name = "mlp"
    label = "Keras MLP"
    tunable = {**TUNABLE, "units": COUNT}

    @classmethod
    def build_layers(cls, settings, input_shape, classes):
        import keras
        from keras import layers

        initializer, activation = settings["kernel_initializer"], settings["activation"]
        dropout = [layers.Dropout(settings["dropout"])] if settings["dropout"] else []
        return [
            keras.Input(shape=input_shape),
            layers.Flatten(),
            layers.Dense(settings["units"], activation=activation,
                         kernel_initializer=initializer),
            *dropout,
            layers.Dense(settings["units"], activation=activation,
                         kernel_initializer=initializer),
            layers.Dense(classes, activation="softmax", kernel_initializer=initializer),
        ]


OBJECTIVE = DenseNetwork
