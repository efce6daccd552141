"""objective.keras: the user's own Keras network, trained by the harness the built-in
networks train with (hpstudy.objectives.keras_classifier: folds, optimizer and
learning-rate settings, divergence, epoch curves, checkpoints a promoted trial continues
from). docs/own-model.md is the contract, for the user.

`builder` names a function of the user's (`path/to/model.py:build_model` or
`package.module:build_model`, read as objective.python's entry is:
hpstudy.objectives.python_entry) called with the arguments its signature names, from
BUILDER_ARGUMENTS: `params` (the fold's settings: the block's, with the trial's values over
them), `input_shape` (one example's) and `n_classes`. It returns a Keras model, or a list of
layers (a Sequential of them), whose last layer is a softmax over n_classes (n_classes None,
a regression: one linear output, keras_classifier.output_layer); the harness compiles it.
The built-in networks are builders of this form (cnn.build_model, mlp.build_model). A
search-space parameter that is not a harness setting is the builder's own: it reaches the
builder in `params` only.
"""

from __future__ import annotations

from hpstudy.objectives.keras_classifier import TUNABLE, KerasClassifier
from hpstudy.objectives.python_entry import FORMS, EntryError, arguments, call, entry_file, split
from hpstudy.outcome import TrialFailed

BUILDER_ARGUMENTS = ("params", "input_shape", "n_classes")


class KerasBuilder(KerasClassifier):
    """objective.keras: the network the user's `builder` returns."""

    name = "keras"
    label = "your Keras model"

    @classmethod
    def describe(cls, settings):
        return f"your Keras model {settings.get('builder', '')}".rstrip()

    @classmethod
    def user_entries(cls, settings):
        return [settings["builder"]] if settings.get("builder") else []

    @classmethod
    def check(cls, settings, space):
        if not settings.get("builder"):
            return [f"objective.keras.builder: required: {FORMS}"]
        try:
            names = arguments(settings["builder"], BUILDER_ARGUMENTS)
        except EntryError as error:
            return [f"objective.keras.builder: {error}"]
        errors = []
        for parameter in space:
            # A harness setting stays inside its domain; any other name is the builder's.
            if parameter.name in TUNABLE and (outside := TUNABLE[parameter.name].outside(
                    parameter)):
                errors.append(f"space.{parameter.name}: {outside} are outside the keras "
                              f"objective's {parameter.name} domain {TUNABLE[parameter.name]}")
            elif parameter.name not in TUNABLE and "params" not in names:
                errors.append(f"space.{parameter.name}: not a setting of the harness, and "
                              f"{split(settings['builder'])[1]}() takes no `params` to get "
                              f"it")
        return errors + cls.schedule_errors(settings, space)

    @classmethod
    def input_files(cls, settings):
        """A path builder's file: editing it retrains what it built."""
        path = entry_file(settings.get("builder") or "")
        return {"builder": path} if path else {}

    @classmethod
    def network(cls, settings, input_shape, classes):
        """The user's network; TrialFailed when the builder raises or returns something
        else than a Keras model (or layers) ending in `classes` outputs."""
        import keras

        builder = settings["builder"]
        name = split(builder)[1]
        given = {"params": dict(settings), "input_shape": tuple(input_shape),
                 "n_classes": classes}
        built = call(builder, given, BUILDER_ARGUMENTS,
                     then=lambda built: keras.Sequential(list(built))
                     if isinstance(built, list | tuple) else built,
                     context=f"settings {dict(settings)}")
        if not isinstance(built, keras.Model):
            raise TrialFailed(f"TypeError: {name}() returned {type(built).__name__}, not a "
                              f"Keras model or a list of layers")
        outputs = 1 if classes is None else classes
        if tuple(built.output_shape) != (None, outputs):
            needs = ("one linear output last (dataset.task regression: n_classes is None)"
                     if classes is None else f"a softmax over the {classes} classes last")
            raise TrialFailed(f"ValueError: {name}()'s model outputs shape "
                              f"{tuple(built.output_shape)}; the harness needs (None, "
                              f"{outputs}): {needs}")
        return built


OBJECTIVE = KerasBuilder
