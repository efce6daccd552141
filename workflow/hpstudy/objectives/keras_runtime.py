"""TensorFlow and Keras plumbing of the networks (hpstudy.objectives.keras_classifier):
TensorFlow's threads and devices, once per process; optimizers and learning-rate schedules
from the settings; a fold's model saved atomically (multi-fidelity checkpoints)."""

from __future__ import annotations

import os
from pathlib import Path

_configured: tuple[int, str] | None = None


def configure_tensorflow(threads: int, device: str):
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


def learning_rate(settings: dict, steps_per_epoch: int):
    """A float, or a Keras schedule (per optimizer step) for `lr_schedule`:
    - exponential: lr * rate^(step / lr_decay_steps) (also with lr_schedule none and an
      lr_decay_rate, as before schedules had a name);
    - time_based: lr / (1 + rate * epoch), the classic write-up's time-based decay;
    - step: lr * rate^floor(epoch / lr_decay_epochs), the classic step decay."""
    import keras

    schedules = keras.optimizers.schedules
    rate, schedule = settings["lr_decay_rate"], settings["lr_schedule"]
    initial = settings["learning_rate"]
    if schedule == "none" and rate is not None:
        schedule = "exponential"
    if schedule == "none":
        return initial
    if rate is None:
        raise ValueError(f"lr_schedule {schedule!r} needs lr_decay_rate")
    if schedule == "exponential":
        return schedules.ExponentialDecay(initial, decay_steps=settings["lr_decay_steps"],
                                          decay_rate=rate)
    if schedule == "time_based":
        return schedules.InverseTimeDecay(initial, decay_steps=steps_per_epoch,
                                          decay_rate=rate)
    return schedules.ExponentialDecay(
        initial, decay_steps=steps_per_epoch * settings["lr_decay_epochs"], decay_rate=rate,
        staircase=True)


def make_optimizer(settings: dict, steps_per_epoch: int):
    import keras

    name, rate = settings["optimizer"], learning_rate(settings, steps_per_epoch)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=settings["momentum"],
                                    nesterov=settings["nesterov"])
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=rate, momentum=settings["momentum"])
    classes = {"adam": keras.optimizers.Adam, "adagrad": keras.optimizers.Adagrad,
               "adadelta": keras.optimizers.Adadelta, "adamax": keras.optimizers.Adamax,
               "nadam": keras.optimizers.Nadam}
    return classes[name](learning_rate=rate)


def save_model(model, path: str) -> None:
    """The fold's model (weights and optimizer state) as a .keras file, written atomically:
    a killed job leaves none, never half of one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.partial.keras")
    try:
        model.save(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
