"""The seed write-up's dense network for flattened images, on TensorFlow like the CNN.

Flatten -> Dense(units, activation, kernel_initializer) -> Dropout(dropout) ->
Dense(units, activation, kernel_initializer) -> Dense(classes, softmax, kernel_initializer)
(a regression: Dense(1), linear);
the write-up's defaults: 64 units, dropout 0.1, the `uniform` initializer. Training, scoring
and the held-out test: hpstudy.objectives.keras_classifier; the network is a builder of the
same form as a user's (objective.keras).
"""

from __future__ import annotations

from hpstudy.objectives.keras_classifier import COUNT, TUNABLE, KerasClassifier, output_layer


def build_model(params, input_shape, n_classes):
    """The dense network, built as a user's builder of objective.keras is
    (docs/own-model.md): from the settings in `params`, for inputs of `input_shape`."""
    import keras
    from keras import layers

    initializer, activation = params["kernel_initializer"], params["activation"]
    dropout = [layers.Dropout(params["dropout"])] if params["dropout"] else []
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Flatten(),
        layers.Dense(params["units"], activation=activation, kernel_initializer=initializer),
        *dropout,
        layers.Dense(params["units"], activation=activation, kernel_initializer=initializer),
        output_layer(n_classes, kernel_initializer=initializer),
    ])


class DenseNetwork(KerasClassifier):
    name = "mlp"
    label = "Keras MLP"
    tunable = {**TUNABLE, "units": COUNT}

    @classmethod
    def network(cls, settings, input_shape, classes):
        return build_model(settings, input_shape, classes)


OBJECTIVE = DenseNetwork
