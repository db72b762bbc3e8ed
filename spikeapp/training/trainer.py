"""The training loop as a Qt-free generator, and the trained classifier it returns."""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from spikeapp import params as param_table
from spikeapp.errors import SpikeappError
from spikeapp.nets import build_network
from spikeapp.tasks import CancelToken, Job, Progress
from spikeapp.training import teacher
from spikeapp.training.augment import Augmenter, shift_all
from spikeapp.training.calibration import expected_calibration_error, fit_temperature, reliability
from spikeapp.training.device import cap_threads, choose_device
from spikeapp.training.whitening import noise_whitening

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """Per spike: the predicted class index (-1: unresolved), calibrated probabilities, the
    confidence (top probability) and the margin between the top two."""

    labels: NDArray[np.int64]
    probabilities: NDArray[np.float32]
    confidence: NDArray[np.float32]
    margin: NDArray[np.float32]


@dataclass
class TrainedClassifier:
    """A trained network with everything needed to use it again."""

    model: nn.Module
    kind: str
    class_names: list[str]
    scale: NDArray[np.float32]            # per input channel
    input_shape: tuple[int, int]          # channels, samples
    network_params: dict[str, Any]
    training_params: dict[str, Any]
    temperature: float = 1.0
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    calibration: dict[str, Any] = field(default_factory=dict)
    pseudo_labelled: int = 0              # unlabelled spikes it learnt from as pseudo-labels
    # The LDA teacher (linear weights and biases over the flattened waveform) and its share of
    # the prediction: its vote steadies the network's (see ``teacher_share``). None: alone.
    teacher_weights: NDArray[np.float32] | None = None
    teacher_bias: NDArray[np.float32] | None = None
    teacher_share: float = 0.0
    # Who taught it and why: "teacher" ("agreement", "lda", "network", or "" for labels only),
    # "why" in words, and for the agreement its evidence ("agreed" of "pool" unlabelled spikes).
    choice: dict[str, Any] = field(default_factory=dict)

    def logits(self, waveforms: NDArray, batch: int = 0) -> NDArray[np.float32]:
        """Raw network outputs for (n, channels, samples) waveforms, in batches: 2048 on the CPU
        (a batch's activations stay in the cache: 4x the throughput of 8192), 32768 on a GPU
        (small batches leave it waiting on each launch)."""
        waveforms = _as_3d(waveforms)
        if waveforms.shape[1:] != self.input_shape:
            raise SpikeappError(f"the network expects waveforms of {self.input_shape[0]} channel(s)"
                                f" x {self.input_shape[1]} samples, not {waveforms.shape[1:]}")
        device = next(self.model.parameters()).device
        if device.type != "cpu":
            try:
                return self._logits_on(waveforms, batch or 32768, device)
            except ACCELERATOR_ERRORS as error:
                if not is_accelerator_error(error):
                    raise
                log.warning("%s failed during prediction (%s); predicting on the CPU",
                            device.type.upper(), _first_line(error))
                _release(device)
                self.model.to("cpu")
                device = torch.device("cpu")
        return self._logits_on(waveforms, batch or 2048, device)

    def phase_shifts(self) -> tuple[float, ...]:
        """Shifts (samples) whose outputs are averaged: -jitter, 0, +jitter when the network was
        trained with jitter and ``phase_average`` is on. Networks saved before the parameter
        existed predict as they did (no averaging)."""
        p = self.training_params
        jitter = float(p.get("jitter", 0.0)) if p.get("augment", True) else 0.0
        if not p.get("phase_average", False) or jitter <= 0:
            return (0.0,)
        return (-jitter, 0.0, jitter)

    def _logits_on(self, waveforms: NDArray, batch: int, device: torch.device
                   ) -> NDArray[np.float32]:
        self.model.eval()
        out = np.zeros((len(waveforms), len(self.class_names)), dtype=np.float32)
        scale = torch.as_tensor(self.scale)[None, :, None]
        shifts = self.phase_shifts()
        with torch.inference_mode():
            for begin in range(0, len(waveforms), batch):
                block = (torch.as_tensor(np.asarray(waveforms[begin:begin + batch],
                                                    dtype=np.float32)) / scale).to(device)
                total = self.model(block).float()
                for shift in shifts:
                    if shift:
                        total += self.model(shift_all(block, shift)).float()
                out[begin:begin + len(block)] = (total / len(shifts)).cpu().numpy()
        return out

    def probabilities(self, waveforms: NDArray, logits: NDArray | None = None,
                      temperature: float | None = None) -> NDArray[np.float32]:
        """Class probabilities: the network's (its ``logits`` divided by the temperature),
        averaged with the LDA teacher's where it has one, by ``teacher_share``."""
        logits = self.logits(waveforms) if logits is None else logits
        probabilities = _softmax(logits / (self.temperature if temperature is None
                                           else temperature))
        if self.teacher_weights is None or self.teacher_share <= 0:
            return probabilities
        vote = teacher.linear_probabilities(self.teacher_weights, self.teacher_bias,
                                            _as_3d(waveforms))
        return ((1.0 - self.teacher_share) * probabilities
                + self.teacher_share * vote).astype(np.float32)

    def predict(self, waveforms: NDArray, min_confidence: float = 0.0) -> Prediction:
        """Calibrated class probabilities; spikes below ``min_confidence`` get label -1."""
        probabilities = self.probabilities(waveforms)
        order = np.sort(probabilities, axis=1)
        confidence = order[:, -1]
        margin = confidence - (order[:, -2] if order.shape[1] > 1 else 0.0)
        labels = probabilities.argmax(axis=1).astype(np.int64)
        labels[confidence < min_confidence] = -1
        return Prediction(labels, probabilities, confidence.astype(np.float32),
                          margin.astype(np.float32))


def _softmax(logits: NDArray) -> NDArray[np.float32]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def _as_3d(waveforms: NDArray) -> NDArray:
    return waveforms[:, None, :] if waveforms.ndim == 2 else waveforms


# With fewer labels than this in some unit, every label trains and none is held out. Held-out
# sets of one spike per unit stop training at a chance epoch and fit the temperature to noise:
# at Difficult2 noise 0.10 with 5 labels per unit (10 draws) holding out gave 249 errors, not
# holding out 19; with 10 labels per unit the two were equal (22 and 21).
LEAST_LABELS_TO_HOLD_OUT = 10


HOLD_OUT_SEED = 0   # draws the held-out labels, whatever the training seed


def split_validation(labels: NDArray[np.int64], fraction: float, rng: np.random.Generator
                     ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Stratified split: per class, ``fraction`` of the labels (at least one, leaving at least
    one) for validation; none when fraction is 0 or a class has fewer than
    :data:`LEAST_LABELS_TO_HOLD_OUT` labels."""
    train, valid = [], []
    counts = np.bincount(labels)
    if fraction <= 0 or counts[counts > 0].min() < LEAST_LABELS_TO_HOLD_OUT:
        return np.arange(len(labels)), np.zeros(0, dtype=np.int64)
    for cls in np.unique(labels):
        members = rng.permutation(np.nonzero(labels == cls)[0])
        k = min(len(members) - 1, max(1, round(fraction * len(members))))
        valid.extend(members[:k])
        train.extend(members[k:])
    return np.sort(np.asarray(train)), np.sort(np.asarray(valid))


def train_classifier(waveforms: NDArray, labels: NDArray, class_names: list[str], *,
                     kind: str = "cnn", network: dict[str, Any] | None = None,
                     training: dict[str, Any] | None = None, unlabelled: NDArray | None = None,
                     cancel: CancelToken | None = None) -> Job[TrainedClassifier]:
    """Train a network on labelled waveforms; yield Progress per epoch; return the classifier.

    ``labels`` are class indexes into ``class_names``. Class-balanced sampling, augmentation, a
    stratified split of the labels: the held-out ones calibrate the confidence (temperature
    scaling; ECE and the reliability diagram cross-fitted on two halves of them). Every fit runs
    its whole annealed schedule, weights averaged over its second half, so the held-out labels
    choose nothing; with ``early_stopping``, half of them stop training and the other half
    calibrates.

    Without ``unlabelled`` waveforms (or with ``pseudo_labels`` 0) one fit on the labels. With
    them, self-training: ``teacher`` "lda" (the default)
    takes pseudo-labels from shrinkage LDA self-trained on the unlabelled spikes
    (:mod:`spikeapp.training.teacher`), and the network trains once on labels and pseudo-labels,
    half the epochs, annealed, its weights averaged over the second half (no early stopping: the
    held-out labels choose nothing). ``teacher`` "network" (also used when LDA cannot fit, with
    one label per unit) takes them from the network's own first fit, then fits again (with early
    stopping: keeping the first fit when the second scores lower). Cancellation is checked
    between batches.
    """
    net_p = param_table.resolve("network", network)
    train_p = param_table.resolve("training", training)
    waveforms = np.asarray(_as_3d(waveforms), dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if len(np.unique(labels)) < 2:
        raise SpikeappError("training needs labelled spikes of at least two units")
    started = time.perf_counter()
    cap_threads(train_p["threads"])
    device = choose_device(train_p["device"])
    try:
        trained = yield from _train_on(device, waveforms, labels, class_names, kind, net_p,
                                       train_p, unlabelled, cancel)
    except ACCELERATOR_ERRORS as error:
        if device.type == "cpu" or not is_accelerator_error(error):
            raise
        # Out of GPU memory, or a broken driver: the CPU is slower but always there.
        message = (f"{device.type.upper()} failed ({_first_line(error)}); training again on "
                   "the CPU")
        log.warning(message)
        yield Progress(0, 0, message, "device")
        _release(device)
        trained = yield from _train_on(torch.device("cpu"), waveforms, labels, class_names, kind,
                                       net_p, train_p, unlabelled, cancel)
    trained.train_seconds = time.perf_counter() - started
    return trained


# The exception types an accelerator's failure comes as (CUDA out of memory is a RuntimeError;
# a torch built without CUDA asserts); is_accelerator_error tells them from bugs.
ACCELERATOR_ERRORS = (RuntimeError, AssertionError)
_ACCELERATOR_WORDS = ("cuda", "cudnn", "cublas", "cufft", "cusparse", "nccl", "mps", "metal",
                      "hip", "rocm", "device-side", "out of memory", "not compiled with",
                      "accelerator", "driver", "gpu")


def is_accelerator_error(error: BaseException) -> bool:
    """Whether ``error`` is the GPU's (out of memory, a driver, a build without CUDA), after
    which training or prediction starts again on the CPU. Any other error (a shape mismatch,
    a bug) is raised: retraining on the CPU would only hide it."""
    kinds = tuple(k for k in (getattr(torch.cuda, "OutOfMemoryError", None),
                              getattr(torch, "AcceleratorError", None)) if k is not None)
    if kinds and isinstance(error, kinds):
        return True
    text = str(error).lower()
    return any(word in text for word in _ACCELERATOR_WORDS)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@torch.no_grad()
def running_mean(averaged: torch.Tensor, current: torch.Tensor, count: torch.Tensor
                 ) -> torch.Tensor:
    """Stochastic weight averaging's running mean of weights and float buffers. An integer buffer
    (BatchNorm's batch counter) takes the latest value: torch's own averaging divides it, which
    fails on CUDA ("Integer division with addcdiv is no longer supported")."""
    if not averaged.is_floating_point():
        return current
    return averaged + (current - averaged) / (count + 1)


def _release(device: torch.device) -> None:
    if device.type == "cuda":
        try:
            torch.cuda.empty_cache()
        except ACCELERATOR_ERRORS:
            pass


def _train_on(device: torch.device, waveforms: NDArray, labels: NDArray, class_names: list[str],
              kind: str, net_p: dict, train_p: dict, unlabelled: NDArray | None,
              cancel: CancelToken | None) -> Job[TrainedClassifier]:
    # Which labels are held out is drawn the same way whatever the training seed: a
    # different draw trains the teacher and the network on other labels, and with 20 labels per
    # unit that, more than the network's initial weights, made one training differ from the
    # next (a worst spread of 10 points over 5 training seeds on the suite's recordings).
    rng = np.random.default_rng(HOLD_OUT_SEED)
    train_rows, valid_rows = split_validation(labels, train_p["validation_fraction"], rng)
    scale = _channel_scale(waveforms[train_rows])
    self_train = (unlabelled is not None and len(unlabelled) > 0
                  and train_p["pseudo_labels"] > 0)
    x_train, y_train = waveforms[train_rows], labels[train_rows]
    if self_train:
        choice = choose_teacher(y_train, train_p)
    else:
        choice = {"teacher": "", "why": "labels only (no self-training)"}
    taught = choice["teacher"] == "lda"
    x_valid, y_valid = waveforms[valid_rows], labels[valid_rows]
    # Held-out labels that chose something (an epoch, a fallback) cannot also judge the
    # confidence: with early stopping, half of them stop and the other half calibrate.
    early = bool(train_p["early_stopping"]) and len(valid_rows) > 0
    x_stop, y_stop = x_valid, y_valid
    if early:
        stop = _stratified_half(y_valid, rng)
        x_stop, y_stop = x_valid[stop], y_valid[stop]
        x_valid, y_valid = x_valid[~stop], y_valid[~stop]
    if taught:
        yield Progress(0, 1, "pseudo-labels from the LDA teacher", "teacher")
        pool = np.asarray(_as_3d(unlabelled), dtype=np.float32)
        rows, classes = teacher.lda_pseudo_labels(x_train, y_train, pool,
                                                  train_p["pseudo_labels"],
                                                  train_p["pseudo_confidence"])
        x_train = np.concatenate([x_train, pool[rows]])
        y_train = np.concatenate([y_train, classes])
        # One annealed fit on the human labels and the teacher's pseudo-labels: the held-out
        # labels choose nothing in it (no epoch, no fallback), so they calibrate honestly.
        plan = [(_stage_epochs(train_p["epochs"], 1), True)]
    elif self_train and choice["teacher"] == "agreement":
        # The first fit only has to be a second opinion beside LDA's, not the final sort: half
        # the epochs, annealed; the second fit, on the labels and the agreed pseudo-labels, as
        # the LDA teacher's.
        half = _stage_epochs(train_p["epochs"], 1)
        plan = [(half, True), (half, True)]
    elif self_train:
        plan = [(train_p["epochs"], not early), (_stage_epochs(train_p["epochs"], 1), True)]
    else:
        plan = [(train_p["epochs"], not early)]
    fit = _Fit(kind, net_p, train_p, device, len(class_names), scale, cancel, plan)
    model = yield from fit.run(x_train, y_train, x_stop, y_stop, 0)
    trained = TrainedClassifier(model=model, kind=kind, class_names=list(class_names),
                                scale=scale, input_shape=(waveforms.shape[1], waveforms.shape[2]),
                                network_params=net_p, training_params=train_p,
                                history=fit.history, choice=choice)
    if taught:
        trained.pseudo_labelled = int(len(rows))
        if train_p["teacher_share"] > 0:
            # The teacher as it stands after its last round (labels and its pseudo-labels).
            trained.teacher_weights, trained.teacher_bias = teacher.linear_model(
                x_train, y_train, len(class_names))
            trained.teacher_share = float(train_p["teacher_share"])
    if self_train and not taught:
        # The network teaching itself picks at the temperature of the labels that stop it; the
        # agreement asks the first fit as it is (temperature 1): a temperature fitted on a
        # handful of held-out labels, one of them missed, makes it sure of nothing.
        if len(y_stop) and choice["teacher"] == "network":
            trained.temperature = fit_temperature(trained.logits(x_stop), y_stop)
        pool = np.asarray(_as_3d(unlabelled), dtype=np.float32)
        if choice["teacher"] == "agreement":
            yield Progress(0, 1, "pseudo-labels the network and the LDA teacher agree on",
                           "teacher")
            linear = teacher.self_trained_probabilities(
                x_train, y_train, pool, len(class_names), train_p["pseudo_labels"],
                train_p["pseudo_confidence"])
            rows, extra_y, agreed = teacher.agreed_pseudo_labels(
                trained.predict(pool).probabilities, linear, train_p["pseudo_labels"],
                train_p["pseudo_confidence"])
            extra_x = pool[rows]
            choice.update(agreed=agreed, pool=len(pool), why=(
                f"{choice['why']}: both sure of {agreed:,} of {len(pool):,} unlabelled spikes"
                + ("" if agreed else "; the network learnt from the labels alone")))
        else:
            extra_x, extra_y = _confident(trained, pool, train_p["pseudo_labels"],
                                          train_p["pseudo_confidence"])
        if len(extra_y):
            x = np.concatenate([x_train, extra_x])
            y = np.concatenate([y_train, extra_y])
            first = trained.model
            trained.pseudo_labelled = int(len(extra_y))
            trained.model = yield from fit.run(x, y, x_stop, y_stop, 1)
            trained.history = fit.history
            if early and (_accuracy(trained, x_stop, y_stop)
                          < _accuracy(trained, x_stop, y_stop, first)):
                # Wrong pseudo-labels taught it worse than the human labels alone.
                log.info("self-training lowered validation accuracy; keeping the first fit")
                trained.model = first
                trained.pseudo_labelled = 0
        if choice["teacher"] == "agreement" and train_p["teacher_share"] > 0:
            # The vote: LDA refitted on the labels and the agreed pseudo-labels (the labels
            # alone where the two agreed on nothing). Not the self-trained LDA as it stands:
            # where it settled on a wrong boundary its vote drags the sort back to it (stand-in
            # at noise 0.20, 5 labels per unit, tuning draws: 84.5 % with it, 95.4 % with this).
            trained.teacher_weights, trained.teacher_bias = teacher.linear_model(
                np.concatenate([x_train, extra_x]), np.concatenate([y_train, extra_y]),
                len(class_names))
            trained.teacher_share = float(train_p["teacher_share"])
    trained.temperature, trained.calibration = _calibrate(trained, x_valid, y_valid, train_p)
    return trained


def choose_teacher(y_train: NDArray[np.int64], train_p: dict) -> dict[str, Any]:
    """Who picks the pseudo-labels, and why: the ``teacher`` parameter, except that LDA cannot
    fit one label per unit (it estimates the noise from the labels): the network then teaches
    itself."""
    wanted = train_p["teacher"]
    if wanted != "network" and not teacher.can_teach(y_train):
        return {"teacher": "network", "why": "the network teaches itself (LDA needs two "
                "labels in some unit)"}
    return {"teacher": wanted, "why": {
        "agreement": "pseudo-labels the network and the LDA teacher agree on",
        "lda": "pseudo-labels from the LDA teacher",
        "network": "the network teaches itself"}[wanted]}


def _stratified_half(labels: NDArray[np.int64], rng: np.random.Generator) -> NDArray[np.bool_]:
    """A mask of about half of each class's rows."""
    half = np.zeros(len(labels), dtype=bool)
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        half[members[: len(members) // 2]] = True
    return half


def _calibrate(trained: TrainedClassifier, x_valid: NDArray, y_valid: NDArray[np.int64],
               train_p: dict) -> tuple[float, dict[str, Any]]:
    """The temperature, fitted on the held-out labels, and how well calibrated it leaves the
    network, cross-fitted: the held-out labels split in two halves, each half's ECE and
    reliability measured at the temperature fitted on the other, so that no label both fits the
    temperature and judges it."""
    if not len(y_valid):
        return 1.0, {"missing": "off (validation fraction 0)" if
                     train_p["validation_fraction"] <= 0 else
                     f"needs {LEAST_LABELS_TO_HOLD_OUT} labels per unit"}
    logits = trained.logits(x_valid)
    temperature = fit_temperature(logits, y_valid)
    half = _stratified_half(y_valid, np.random.default_rng(HOLD_OUT_SEED))

    def judged_as_shown(rows: NDArray[np.bool_], at: float) -> NDArray:
        """Log-probabilities of what the prediction shows (the teacher's vote included), the
        network's logits at temperature ``at``."""
        return np.log(np.maximum(trained.probabilities(x_valid[rows], logits[rows], at), 1e-12))

    everything = np.ones(len(y_valid), dtype=bool)
    calibration: dict[str, Any] = {"held_out": int(len(y_valid)), "ece_before":
                                   expected_calibration_error(judged_as_shown(everything, 1.0),
                                                              y_valid)}
    if half.all() or not half.any():
        calibration["missing"] = "too few held-out labels to judge the calibration"
        return temperature, calibration
    scaled = np.empty_like(logits)
    for judged in (half, ~half):
        scaled[judged] = judged_as_shown(
            judged, fit_temperature(logits[~judged], y_valid[~judged]))
    calibration.update(ece_after=expected_calibration_error(scaled, y_valid),
                       reliability=reliability(scaled, y_valid), cross_fitted=True)
    return temperature, calibration


def _accuracy(trained: TrainedClassifier, x: NDArray, y: NDArray[np.int64],
              model: nn.Module | None = None) -> float:
    """Accuracy of the trained classifier (or of ``model`` in its place) on labelled waveforms."""
    if model is not None:
        trained = copy.copy(trained)
        trained.model = model
    return float((trained.logits(x).argmax(axis=1) == y).mean())


def _confident(trained: TrainedClassifier, waveforms: NDArray, per_class: int,
               least: float) -> tuple[NDArray, NDArray[np.int64]]:
    """Up to ``per_class`` unlabelled waveforms per class predicted with confidence >= least,
    the most confident first (the teacher's rule, on the network's own predictions)."""
    rows, classes = teacher.most_confident(trained.predict(waveforms).probabilities, per_class,
                                           least)
    return waveforms[rows], classes


class _Fit:
    """One supervised fit with early stopping, reused for the self-training stage."""

    def __init__(self, kind: str, net_p: dict, train_p: dict, device: torch.device,
                 n_classes: int, scale: NDArray[np.float32], cancel: CancelToken | None,
                 plan: list[tuple[int, bool]]) -> None:
        self.kind, self.net_p, self.train_p, self.device = kind, net_p, train_p, device
        self.n_classes, self.cancel = n_classes, cancel
        self.plan = plan     # per stage: epochs, and whether annealed (no early stopping)
        self.scale = torch.as_tensor(scale)[None, :, None]
        self.history: list[dict[str, float]] = []

    def _tensor(self, x: NDArray) -> torch.Tensor:
        return (torch.as_tensor(x) / self.scale).to(self.device)

    def run(self, x_np: NDArray, y_np: NDArray, xv_np: NDArray, yv_np: NDArray, stage: int
            ) -> Job[nn.Module]:
        p = self.train_p
        torch.manual_seed(p["seed"] + stage)
        generator = torch.Generator().manual_seed(p["seed"] + stage)
        x_train, y_train = self._tensor(x_np), torch.as_tensor(y_np).to(self.device)
        x_valid, y_valid = self._tensor(xv_np), torch.as_tensor(yv_np).to(self.device)
        residuals = _residuals(x_train, y_train)
        augment = (Augmenter(residuals, x_train, y_train, generator, jitter=p["jitter"])
                   if p["augment"] else None)
        model = build_network(self.kind, x_np.shape[1], x_np.shape[2], self.n_classes,
                              self.net_p)
        if p["whiten"]:
            # From the human labels in the first fit; the self-training fit adds the residuals
            # of its pseudo-labels, thousands where the human labels may be a handful.
            model.whitening.set(*(torch.as_tensor(m) for m in
                                  noise_whitening(residuals.cpu().numpy(),
                                                  x_train.cpu().numpy())))
        model = model.to(self.device)
        optimiser = torch.optim.AdamW(model.parameters(), lr=p["learning_rate"],
                                      weight_decay=p["weight_decay"])
        # A fit on hundreds of pseudo-labels per unit; the few human labels held out are too
        # few to pick its epoch by (one spike flips the best epoch to an early, unannealed one),
        # so it runs its whole, shorter annealing schedule.
        epochs, annealed = self.plan[stage]
        early_stopping = not annealed
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
        batch = p["batch_size"]
        steps = max(1, math.ceil(p["samples_per_epoch"] / batch))
        weights = _balanced_weights(y_np)
        best = (math.inf, None, 0)
        label = " (self-training)" if self.plan[stage][1] else ""
        # The self-training fit returns the average of its weights over the second half of its
        # schedule (stochastic weight averaging): a steadier boundary than any one epoch's,
        # where a spike or two on the edge otherwise flip from one seed to the next.
        swa = (torch.optim.swa_utils.AveragedModel(model, avg_fn=running_mean, use_buffers=True)
               if annealed else None)
        for epoch in range(1, epochs + 1):
            model.train()
            picks = torch.multinomial(weights, steps * batch, replacement=True,
                                      generator=generator)
            total_loss, correct = 0.0, 0
            for step in range(steps):
                if self.cancel is not None:
                    self.cancel.raise_if_cancelled()
                rows = picks[step * batch:(step + 1) * batch].to(self.device)
                xb, yb = x_train[rows], y_train[rows]
                if augment is not None:
                    xb = augment(xb, yb)
                out = model(xb)
                loss = loss_fn(out, yb)
                if not torch.isfinite(loss):
                    raise SpikeappError("training diverged (the loss is not a number): a "
                                        "labelled waveform may hold extreme values, or the "
                                        "learning rate is too high")
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total_loss += float(loss.detach()) * len(rows)
                correct += int((out.argmax(1) == yb).sum())
            scheduler.step()
            record = {"epoch": epoch, "stage": stage, "loss": total_loss / (steps * batch),
                      "train_accuracy": correct / (steps * batch)}
            stop = False
            if len(y_np) and len(yv_np):
                val_loss, val_acc = _evaluate(model, x_valid, y_valid, loss_fn)
                record.update(val_loss=val_loss, val_accuracy=val_acc)
                if early_stopping and val_loss < best[0] - 1e-4:
                    best = (val_loss, copy.deepcopy(model.state_dict()), epoch)
                stop = early_stopping and epoch - best[2] >= p["patience"]
            self.history.append(record)
            done = sum(e for e, _ in self.plan[:stage]) + epoch
            total = sum(e for e, _ in self.plan)
            message = (f"stopped early at epoch {epoch}{label}" if stop
                       else f"epoch {epoch}{label}: loss {record['loss']:.3f}")
            yield Progress(done, total, message, "epoch", record)
            if swa is not None and epoch > epochs // 2:
                swa.update_parameters(model)
            if stop:
                break
        if early_stopping and best[1] is not None:
            model.load_state_dict(best[1])
        if swa is not None:
            model = swa.module
        model.eval()
        return model


def _stage_epochs(epochs: int, stage: int) -> int:
    """Epochs of the first fit, and of the self-training fit (half: it starts from more data)."""
    return epochs if stage == 0 else max(1, epochs // 2)


def _channel_scale(waveforms: NDArray[np.float32]) -> NDArray[np.float32]:
    """Per channel: the SD of the labelled waveforms (a scale, not a centring)."""
    scale = waveforms.transpose(1, 0, 2).reshape(waveforms.shape[1], -1).std(axis=1)
    return np.where(scale > 0, scale, 1.0).astype(np.float32)


def _balanced_weights(labels: NDArray[np.int64]) -> torch.Tensor:
    counts = np.bincount(labels)
    return torch.as_tensor(1.0 / counts[labels], dtype=torch.float64)


def _residuals(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each training waveform minus its unit's mean: samples of the recording's noise."""
    means = torch.stack([x[y == c].mean(0) if (y == c).any() else torch.zeros_like(x[0])
                         for c in range(int(y.max()) + 1)])
    return x - means[y]


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module
              ) -> tuple[float, float]:
    model.eval()
    with torch.inference_mode():
        out = model(x)
        return float(loss_fn(out, y)), float((out.argmax(1) == y).float().mean())
