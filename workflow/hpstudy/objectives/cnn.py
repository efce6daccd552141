"""The classic study's objective: a small Keras 3 CNN on TensorFlow, one fold at a time.

Conv2D(filters, k x k, activation, kernel_initializer) -> MaxPooling 2x2 -> Flatten ->
[Dropout] -> Dense(dense_units, activation, kernel_initializer) -> Dense(classes, softmax);
SGD by default (any optimizer of keras_classifier.OPTIMIZERS), sparse categorical
cross-entropy, accuracy. The settings of TUNABLE can be search-space parameters; the rest are
fixed for the study. Training, scoring and divergence: hpstudy.objectives.keras_classifier.
"""

from __future__ import annotations

from hpstudy.objectives.keras_classifier import TUNABLE, KerasClassifier


class ConvolutionalNetwork(KerasClassifier):
    name = "cnn"
    label = "Keras CNN"
    tunable = (*TUNABLE, "filters", "kernel_size", "dense_units")

    @classmethod
    def inputs(cls, images):
        return images[..., None]  # one channel

    @classmethod
    def build_layers(cls, settings, input_shape, classes):
        import keras
        from keras import layers

        kernel, initializer = settings["kernel_size"], settings["kernel_initializer"]
        activation = settings["activation"]
        dropout = [layers.Dropout(settings["dropout"])] if settings["dropout"] else []
        return [
            keras.Input(shape=input_shape),
            layers.Conv2D(settings["filters"], (kernel, kernel), activation=activation,
                          kernel_initializer=initializer),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
            *dropout,
            layers.Dense(settings["dense_units"], activation=activation,
                         kernel_initializer=initializer),
            layers.Dense(classes, activation="softmax"),
        ]


OBJECTIVE = ConvolutionalNetwork
