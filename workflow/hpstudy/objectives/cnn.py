"""The classic study's objective: a small Keras 3 CNN on TensorFlow, one fold at a time.

Conv2D(filters, k x k, activation, kernel_initializer) -> MaxPooling 2x2 -> Flatten ->
[Dropout] -> Dense(dense_units, activation, kernel_initializer) -> Dense(classes, softmax);
SGD by default (any optimizer of keras_classifier.OPTIMIZERS), sparse categorical
cross-entropy, accuracy. The settings of TUNABLE can be search-space parameters; the rest are
fixed for the study. Training, scoring and divergence: hpstudy.objectives.keras_classifier;
the network is a builder of the same form as a user's (objective.keras).
"""

from __future__ import annotations

from hpstudy.objectives.keras_classifier import COUNT, TUNABLE, KerasClassifier, output_layer


def build_model(params, input_shape, n_classes):
    """The CNN, built as a user's builder of objective.keras is (docs/own-model.md): from the
    settings in `params`, for images of `input_shape` (height, width, 1 channel)."""
    import keras
    from keras import layers

    kernel, initializer = params["kernel_size"], params["kernel_initializer"]
    activation = params["activation"]
    dropout = [layers.Dropout(params["dropout"])] if params["dropout"] else []
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(params["filters"], (kernel, kernel), activation=activation,
                      kernel_initializer=initializer),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        *dropout,
        layers.Dense(params["dense_units"], activation=activation,
                     kernel_initializer=initializer),
        output_layer(n_classes),
    ])


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
        if len(image_shape) != 2:
            return [f"objective.cnn: the data's examples are rows of {image_shape[0]} "
                    f"features, not images: the CNN convolves 2-D images (a table trains "
                    f"with mlp, keras or python)"]
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
    def network(cls, settings, input_shape, classes):
        return build_model(settings, input_shape, classes)


OBJECTIVE = ConvolutionalNetwork
