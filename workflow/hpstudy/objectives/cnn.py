"""The classic study's objective: a small Keras 3 CNN on TensorFlow, one fold at a time.

Conv2D(filters, k x k, relu, he_uniform) -> MaxPooling 2x2 -> Flatten ->
Dense(dense_units, relu, he_uniform) -> Dense(classes, softmax); SGD (or Adam / RMSprop),
sparse categorical cross-entropy, accuracy. Any setting can be a search-space parameter.

Score (metric: accuracy): objective = log10(1 - mean CV accuracy), the classic write-up's
score. 1 - accuracy is floored at ERROR_FLOOR so a perfect fold stays finite.
A fold diverges when its training loss turns NaN/inf, or when an epoch's training loss
exceeds `divergence_factor` x ln(classes), i.e. that many times the loss of a model that
guesses uniformly (Keras 3 keeps the loss finite where Keras 2 gave NaN: with lr 50 on digits
it climbs to ~85 within three epochs, and to ~3e6 at lr 1e6, but never NaN). The fold stops at
once and is recorded `diverged`; its trial gets the
penalty objective of a chance-level model (log10(1 - 1/classes), or ln(classes) for the loss
metric), so the study goes on and the strategies see it as bad.
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import time

from hpstudy.objectives import trial_status

log = logging.getLogger(__name__)

ERROR_FLOOR = 1e-4  # log10 floor -4: far below one error in any fold used here


_configured: tuple[int, str] | None = None


def _configure_tensorflow(threads: int, device: str):
    """Threads and devices must be set before TensorFlow runs its first op: once per process
    (a job that trains several folds calls this for each)."""
    global _configured
    if _configured is not None:
        import tensorflow as tf

        if _configured != (threads, device):
            raise RuntimeError(f"TensorFlow is already set up for {_configured}; cannot switch "
                               f"to threads={threads}, device={device} in this process")
        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if device == "cpu":
        # Skips CUDA's driver probe (and its error lines) on machines without a GPU.
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    if device == "gpu":
        # Several fold jobs may share one GPU: take memory as needed, not all of it up front.
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    _configured = (threads, device)
    return tf


def build_model(settings: dict, input_shape: tuple[int, ...], classes: int):
    import keras
    from keras import layers

    kernel = settings["kernel_size"]
    model = keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(settings["filters"], (kernel, kernel), activation="relu",
                      kernel_initializer="he_uniform"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(settings["dense_units"], activation="relu",
                     kernel_initializer="he_uniform"),
        layers.Dense(classes, activation="softmax"),
    ])
    learning_rate = settings["learning_rate"]
    if settings["lr_decay_rate"] is not None:
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=settings["lr_decay_steps"],
            decay_rate=settings["lr_decay_rate"])
    name = settings["optimizer"]
    if name == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate,
                                         momentum=settings["momentum"])
    elif name == "rmsprop":
        optimizer = keras.optimizers.RMSprop(learning_rate=learning_rate,
                                             momentum=settings["momentum"])
    else:
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def evaluate_fold(settings, params, fold, seed, data, threads=1) -> dict:
    settings = {**settings, **params}
    started = time.perf_counter()
    tf = _configure_tensorflow(threads, settings["device"])
    import keras

    log.info("TensorFlow %s and Keras %s ready in %.1f s", tf.__version__, keras.__version__,
             time.perf_counter() - started)
    # A fresh graph and seed per fold: a fold's result does not depend on earlier folds
    # trained in the same process.
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
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

    divergence_limit = settings["divergence_factor"] * math.log(data.classes)
    guard = DivergenceGuard()
    callbacks = [guard]
    if settings["early_stopping_patience"] is not None:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=settings["early_stopping_patience"],
            min_delta=settings["early_stopping_min_delta"]))
    x_train, x_val = data.x_train[..., None], data.x_val[..., None]
    model = build_model(settings, x_train.shape[1:], data.classes)
    started, started_cpu = time.perf_counter(), time.process_time()
    fit = model.fit(x_train, data.y_train, validation_data=(x_val, data.y_val),
                    batch_size=settings["batch_size"], epochs=settings["epochs"],
                    shuffle=True, verbose=0, callbacks=callbacks)
    # Wall clock depends on what else runs on the machine; process CPU time much less so.
    fit_seconds = time.perf_counter() - started
    fit_cpu_seconds = time.process_time() - started_cpu
    history = {key: [_finite_or_none(v) for v in values] for key, values in fit.history.items()}
    final = {key: values[-1] if values else None for key, values in history.items()}
    diverged = guard.diverged or any(v is None for v in final.values())
    if diverged:
        log.warning("fold %s diverged after %d epoch(s): %s", fold, len(fit.epoch), final)
    return {
        "status": "diverged" if diverged else "ok",
        "metrics": final,
        "history": history,
        "epochs_run": len(fit.history.get("loss", [])),
        "fit_seconds": round(fit_seconds, 3),
        "fit_cpu_seconds": round(fit_cpu_seconds, 3),
        "train_examples": int(len(data.y_train)),
        "val_examples": int(len(data.y_val)),
        "classes": data.classes,
    }


def evaluate_test(settings, params, seed, data, threads=1) -> dict:
    """Retrain on every cross-validation example, score once on the held-out test set."""
    record = evaluate_fold(settings, params, "test", seed, data, threads)
    settings = {**settings, **params}
    if record["status"] == "ok":
        accuracy = record["metrics"]["val_accuracy"]
        test_objective = (record["metrics"]["val_loss"] if settings["metric"] == "loss"
                          else math.log10(max(1.0 - accuracy, ERROR_FLOOR)))
    else:
        accuracy, test_objective = None, penalty(settings, data.classes)
    record.update({"test_objective": test_objective, "test_accuracy": accuracy,
                   "test_loss": record["metrics"].get("val_loss")})
    return record


def penalty(settings, classes: int) -> float:
    if settings["metric"] == "loss":
        return math.log(classes)
    return math.log10(1 - 1 / classes)


def score_trial(settings, fold_records) -> dict:
    status = trial_status(fold_records)
    metrics = {}
    for record in fold_records:
        metrics[f"fold_{record['fold']}_accuracy"] = record["metrics"].get("val_accuracy")
    if status != "ok":
        return {"status": status, "objective": penalty(settings, fold_records[0]["classes"]),
                "metrics": metrics}
    accuracies = [r["metrics"]["val_accuracy"] for r in fold_records]
    losses = [r["metrics"]["val_loss"] for r in fold_records]
    metrics.update({
        "cv_accuracy_mean": statistics.fmean(accuracies),
        "cv_accuracy_std": statistics.pstdev(accuracies),
        "cv_loss_mean": statistics.fmean(losses),
    })
    if settings["metric"] == "loss":
        objective = metrics["cv_loss_mean"]
    else:
        objective = math.log10(max(1.0 - metrics["cv_accuracy_mean"], ERROR_FLOOR))
    return {"status": status, "objective": objective, "metrics": metrics}
