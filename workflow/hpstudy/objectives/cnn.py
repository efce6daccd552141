"""The classic study's objective: a small Keras 3 CNN on TensorFlow, one fold at a time.

Conv2D(filters, k x k, activation, kernel_initializer) -> MaxPooling 2x2 -> Flatten ->
[Dropout] -> Dense(dense_units, activation, kernel_initializer) -> Dense(classes, softmax);
SGD by default (any optimizer of keras_classifier.OPTIMIZERS), sparse categorical
cross-entropy, accuracy. The settings of TUNABLE can be search-space parameters; the rest are
fixed for the study. Training, scoring and divergence: hpstudy.objectives.keras_classifier.
"""

from __future__ import annotations

from hpstudy.objectives.keras_classifier import COUNT, TUNABLE, KerasClassifier


class ConvolutionalNetwork(KerasClassifier):
    name = "cnn"
    label = "Keras CNN"
    tunable = {**TUNABLE, "filters": COUNT, "kernel_size": COUNT, "dense_units": COUNT}

    @classmethod
    def inputs(cls, images):
        return images[..., None]  # one channel

    @staticmethod
    def largest_kernel(image_shape) -> int:
        """A 'valid' k x k convolution leaves (side - k + 1) per side and the 2x2 max-pooling
        after it needs 2 of those: k <= side - 1."""
        return min(image_shape) - 1

    @classmethod
    def check_data(cls, settings, space, image_shape, classes):
        limit = cls.largest_kernel(image_shape)
        shape = "x".join(map(str, image_shape))
        if "kernel_size" not in space.names:
            kernel = settings["kernel_size"]
            if kernel > limit:
                return [f"objective.cnn.kernel_size: {kernel} does not fit the data's {shape} "
                        f"images (a valid {kernel}x{kernel} convolution, then 2x2 max-pooling, "
                        f"needs kernel_size <= {limit})"]
            return []
        # Searched: a trial with too large a kernel fails inside Keras and is recorded as
        # failed; only a space with no kernel that fits is hopeless before it starts.
        parameter = space["kernel_size"]
        values = parameter.choices or (parameter.low,)
        if min(values) > limit:
            return [f"space.kernel_size: every value is > {limit}, the largest kernel that "
                    f"fits the data's {shape} images (valid convolution, then 2x2 "
                    f"max-pooling): no trial could train"]
        return []

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
