"""What the Keras networks share (cnn, mlp): TensorFlow set-up, one fold's training with the
divergence guard, the CV score, the held-out test, and the seed write-ups' tunables
(initializer, activation, dropout, optimizer, Nesterov momentum, learning-rate schedules).
The networks classify; with dataset.task regression (FoldData.classes None) they regress
instead, as described at the end.

A network module subclasses KerasClassifier with its `network` (a builder: the module's own,
or the user's for objective.keras) and its own schema block.

Score (metric: accuracy): objective = log10(1 - mean CV accuracy), the classic write-up's
score. 1 - accuracy is floored at ERROR_FLOOR so a perfect fold stays finite.
A fold diverges when its training loss turns NaN/inf, or when an epoch's training loss
exceeds `divergence_factor` x ln(classes), i.e. that many times the loss of a model that
guesses uniformly (Keras 3 keeps the loss finite where Keras 2 gave NaN: with lr 50 on digits
it climbs to ~85 within three epochs, and to ~3e6 at lr 1e6, but never NaN). The fold stops at
once and is recorded `diverged`; its trial gets the penalty objective of a chance-level model
(log10(1 - 1/classes), or ln(classes) for the loss metric), so the study goes on and the
strategies see it as bad. A `zero` initializer is not divergence: it trains to chance and is
scored as such.
A fold whose model cannot be built or fitted with the trial's params (a kernel larger than its
input, out of memory: hpstudy.outcome.failure_kind) is recorded `failed` instead, with its
reason; its trial gets no objective (None), as the report draws failed trials.

Regression: the builder gets n_classes None and ends in one linear output. The fold's target
is standardised with its training rows' mean and deviation (what SGD's default learning
rates suit, whatever the target's units), the network trains on mean squared error, and its
RMSE is reported back in the target's units: metric rmse (the default), objective = mean CV
RMSE; metric loss, the mean CV squared error of the standardised target. A fold diverges past
`divergence_factor` x 1, the loss of guessing the mean; a diverged trial's objective is the
RMSE of guessing the training mean (the deviation of the fold's training target; the loss
metric: 1).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from abc import abstractmethod

from hpstudy.objectives.base import Objective
from hpstudy.objectives.keras_runtime import configure_tensorflow, make_optimizer, save_model
from hpstudy.outcome import trial_failures, trial_status
from hpstudy.seeds import derive_seed
from hpstudy.space import Domain

log = logging.getLogger(__name__)

ERROR_FLOOR = 1e-4  # log10 floor -4: far below one error in any fold used here
# The optimizers a network can train with (Keras names), and which of them take momentum.
OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamax", "nadam")
WITH_MOMENTUM = ("sgd", "rmsprop")
INITIALIZERS = ("uniform", "lecun_uniform", "normal", "zero", "glorot_normal", "glorot_uniform",
                "he_normal", "he_uniform")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "softplus", "softsign", "hard_sigmoid",
               "linear")
LR_SCHEDULES = ("none", "exponential", "time_based", "step")  # keras_runtime.learning_rate
# Domains of the networks' settings, as their blocks of the config schema state them.
POSITIVE = Domain(low=0, open_low=True)
FRACTION = Domain(0, 1, open_high=True)  # [0, 1): momentum, dropout
COUNT = Domain(low=1, integer=True)
# Settings of every Keras network that a search-space parameter may set, and their domains.
TUNABLE = {
    "learning_rate": POSITIVE, "momentum": FRACTION, "nesterov": Domain(values=(False, True)),
    "batch_size": COUNT, "epochs": COUNT, "optimizer": Domain(values=OPTIMIZERS),
    "kernel_initializer": Domain(values=INITIALIZERS), "activation": Domain(values=ACTIVATIONS),
    "dropout": FRACTION, "lr_schedule": Domain(values=LR_SCHEDULES), "lr_decay_rate": POSITIVE,
}


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def penalty(settings, classes: int) -> float:
    """A classifier's objective at chance level."""
    if settings["metric"] == "loss":
        return math.log(classes)
    return math.log10(1 - 1 / classes)


def chance_objective(settings, records) -> float:
    """The objective of a model no better than chance, for a diverged trial or test: a
    classifier's guessing uniformly, a regression's guessing its training mean (the largest
    RMSE of it over the records' folds)."""
    if records[0]["classes"] is not None:
        return penalty(settings, records[0]["classes"])
    if settings["metric"] == "loss":
        return 1.0
    return max(record["target_std"] for record in records)


def output_layer(n_classes: int | None, **dense):
    """A network's last layer: a softmax over n_classes, or, for a regression (None), one
    linear output. `dense`: the Dense layer's other arguments (its kernel initializer)."""
    from keras import layers

    if n_classes is None:
        return layers.Dense(1, **dense)
    return layers.Dense(n_classes, activation="softmax", **dense)


def _scaling(y_train):
    """(mean, deviation) that standardise a regression's training target (deviation 1 for
    a constant one)."""
    import numpy as np

    mean, deviation = float(np.mean(y_train)), float(np.std(y_train))
    return mean, deviation if deviation > 0 else 1.0


class KerasClassifier(Objective):
    """A Keras classifier of the prepared images or rows (a regressor of them with
    dataset.task regression), trained with SGD & co. on one fold."""

    needs_data = True
    tunable = TUNABLE
    fidelity = "epochs"
    fold_metric = "accuracy"
    imports = ("tensorflow", "keras")

    @classmethod
    def inputs(cls, images):
        """The prepared images (examples x height x width, scaled to [0, 1]) as the network
        reads them."""
        return images

    @classmethod
    def check(cls, settings, space):
        return super().check(settings, space) + cls.schedule_errors(settings, space)

    @classmethod
    def schedule_errors(cls, settings, space) -> list[str]:
        """What the learning-rate schedule settings cannot do (the schema cannot say)."""
        errors = []
        schedule = settings["lr_schedule"]
        searched = "lr_decay_rate" in space.names
        if schedule != "none" and settings["lr_decay_rate"] is None and not searched:
            errors.append(f"objective.{cls.name}.lr_decay_rate: lr_schedule {schedule!r} "
                          f"needs a decay rate (a number, or a search-space parameter)")
        rate = settings["lr_decay_rate"]
        if rate is not None and rate > 1 and schedule in ("none", "exponential", "step"):
            errors.append(f"objective.{cls.name}.lr_decay_rate: {rate!r} would grow the "
                          f"learning rate; a factor per decay must be <= 1 (lr_schedule "
                          f"{schedule!r}; time_based takes any positive rate)")
        return errors

    @classmethod
    def threads(cls, settings):
        return settings["threads"]

    @classmethod
    def gpus(cls, settings):
        return 1 if settings["device"] == "gpu" else 0

    @classmethod
    def device(cls, settings):
        return settings["device"]

    @classmethod
    @abstractmethod
    def network(cls, settings: dict, input_shape: tuple[int, ...], classes: int):
        """The network for inputs of `input_shape`, softmax over `classes` last (classes
        None, a regression: one linear output), not compiled: a builder (cnn.build_model,
        mlp.build_model, the user's for objective.keras) given the fold's settings."""

    @classmethod
    def build_model(cls, settings: dict, input_shape: tuple[int, ...], classes: int,
                    steps_per_epoch: int = 1):
        """The network, compiled with the settings' optimizer (and learning-rate schedule),
        sparse categorical cross-entropy and accuracy: what every network trains with (a
        regression, classes None: mean squared error and RMSE)."""
        import keras

        model = cls.network(settings, input_shape, classes)
        if classes is None:
            loss, metrics = "mean_squared_error", [keras.metrics.RootMeanSquaredError("rmse")]
        else:
            loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
        model.compile(optimizer=make_optimizer(settings, steps_per_epoch), loss=loss,
                      metrics=metrics)
        return model

    @classmethod
    def evaluate_fold(cls, settings, params, fold, seed, data, threads=1, *, start_from=None,
                      checkpoint_to=None):
        """start_from: (checkpoint path, its epochs) of this fold trained to fewer epochs:
        training continues from its weights and optimizer state (a multi-fidelity
        promotion) up to `epochs`. checkpoint_to: where to save the fold's model after."""
        settings = {**settings, **params}
        started = time.perf_counter()
        tf = configure_tensorflow(threads, settings["device"])
        import keras

        log.info("TensorFlow %s and Keras %s ready in %.1f s", tf.__version__,
                 keras.__version__, time.perf_counter() - started)
        # A fresh graph and seed per fold: a fold's result does not depend on earlier folds
        # trained in the same process. A continued fit is seeded by its first epoch too: a
        # checkpoint holds weights and optimizer state, not TensorFlow's random state.
        keras.backend.clear_session()
        first_epoch = start_from[1] if start_from else 0
        keras.utils.set_random_seed(derive_seed(seed, "from_epoch", first_epoch)
                                    if first_epoch else seed)
        tf.config.experimental.enable_op_determinism()

        class DivergenceGuard(keras.callbacks.Callback):
            """Stops at a non-finite batch loss (like TerminateOnNaN, but remembered) or at an
            epoch whose training loss is past the divergence limit."""

            diverged = False

            def _check(self, loss, limit):
                if not math.isfinite(loss) or loss > limit:
                    self.diverged = True
                    self.model.stop_training = True

            def on_train_batch_end(self, batch, logs=None):
                self._check(float((logs or {}).get("loss", 0.0)), math.inf)

            def on_epoch_end(self, epoch, logs=None):
                self._check(float((logs or {}).get("loss", 0.0)), divergence_limit)

        regression = data.classes is None
        divergence_limit = settings["divergence_factor"] * (
            1.0 if regression else math.log(data.classes))
        guard = DivergenceGuard()
        callbacks = [guard]
        if settings["early_stopping_patience"] is not None:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=settings["early_stopping_patience"],
                min_delta=settings["early_stopping_min_delta"]))
        x_train, x_val = cls.inputs(data.x_train), cls.inputs(data.x_val)
        y_train, y_val = data.y_train, data.y_val
        if regression:
            target_mean, target_std = _scaling(y_train)
            y_train, y_val = ((y - target_mean) / target_std for y in (y_train, y_val))
        steps_per_epoch = math.ceil(len(x_train) / settings["batch_size"])
        if start_from:  # compiled, with the optimizer's state (its step count included)
            # Outside trial_failures: a checkpoint Keras cannot read is our problem.
            model = keras.saving.load_model(start_from[0])
        with trial_failures():  # what these params make impossible fails the trial only
            if not start_from:
                model = cls.build_model(settings, x_train.shape[1:], data.classes,
                                        steps_per_epoch)
            fit = model.fit(x_train, y_train, validation_data=(x_val, y_val),
                            batch_size=settings["batch_size"], epochs=settings["epochs"],
                            initial_epoch=first_epoch, shuffle=True, verbose=0,
                            callbacks=callbacks)
        history = {key: [_finite_or_none(v) for v in values]
                   for key, values in fit.history.items()}
        if regression:  # RMSE back in the target's units (the loss stays standardised)
            history = {key: [v * target_std if v is not None and key.endswith("rmse") else v
                             for v in values] for key, values in history.items()}
        final = {key: values[-1] if values else None for key, values in history.items()}
        diverged = guard.diverged or any(v is None for v in final.values())
        if diverged:
            log.warning("fold %s diverged after %d epoch(s): %s", fold, len(fit.epoch), final)
        if checkpoint_to:
            save_model(model, checkpoint_to)
        return {
            "status": "diverged" if diverged else "ok",
            "metrics": final,
            "history": history,
            "epochs_run": len(fit.history.get("loss", [])),
            **({"first_epoch": first_epoch} if first_epoch else {}),
            "train_examples": int(len(data.y_train)),
            "val_examples": int(len(data.y_val)),
            "classes": data.classes,
            **({"target_std": target_std} if regression else {}),
        }

    @classmethod
    def evaluate_test(cls, settings, params, seed, data, threads=1):
        """Retrain on every cross-validation example, score once on the held-out test set."""
        record = cls.evaluate_fold(settings, params, "test", seed, data, threads)
        settings = {**settings, **params}
        if data.classes is None:
            rmse = record["metrics"].get("val_rmse") if record["status"] == "ok" else None
            test_objective = (chance_objective(settings, [record]) if rmse is None
                              else record["metrics"]["val_loss"] if settings["metric"] == "loss"
                              else rmse)
            record.update({"test_objective": test_objective, "test_rmse": rmse,
                           "test_loss": record["metrics"].get("val_loss")})
            return record
        if record["status"] == "ok":
            accuracy = record["metrics"]["val_accuracy"]
            test_objective = (record["metrics"]["val_loss"] if settings["metric"] == "loss"
                              else math.log10(max(1.0 - accuracy, ERROR_FLOOR)))
        else:
            accuracy, test_objective = None, penalty(settings, data.classes)
        record.update({"test_objective": test_objective, "test_accuracy": accuracy,
                       "test_loss": record["metrics"].get("val_loss")})
        return record

    @classmethod
    def failed_fold(cls, settings, reason, data):
        return {**super().failed_fold(settings, reason, data),
                "train_examples": int(len(data.y_train)), "val_examples": int(len(data.y_val)),
                "classes": data.classes,
                **({"target_std": _scaling(data.y_train)[1]} if data.classes is None else {})}

    @classmethod
    def score_trial(cls, settings, fold_records):
        status = trial_status(fold_records)
        score = "accuracy" if fold_records[0]["classes"] is not None else "rmse"
        metrics = {}
        for record in fold_records:
            metrics[f"fold_{record['fold']}_{score}"] = record["metrics"].get(f"val_{score}")
        if status == "failed":  # no objective: the report draws it as failed, not penalised
            return {"status": status, "objective": None, "metrics": metrics}
        if status != "ok":
            return {"status": status, "objective": chance_objective(settings, fold_records),
                    "metrics": metrics}
        scores = [r["metrics"][f"val_{score}"] for r in fold_records]
        losses = [r["metrics"]["val_loss"] for r in fold_records]
        metrics.update({
            f"cv_{score}_mean": statistics.fmean(scores),
            f"cv_{score}_std": statistics.pstdev(scores),
            "cv_loss_mean": statistics.fmean(losses),
        })
        if settings["metric"] == "loss":
            objective = metrics["cv_loss_mean"]
        elif score == "rmse":
            objective = metrics["cv_rmse_mean"]
        else:
            objective = math.log10(max(1.0 - metrics["cv_accuracy_mean"], ERROR_FLOOR))
        return {"status": status, "objective": objective, "metrics": metrics}
