"""The one table of parameters: name, type, bounds, default, help.

It feeds the defaults, the validation, the CLI flags and the GUI's settings form, so a
parameter is declared once. Parameters are grouped by the stage that uses them.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from spikeapp.errors import ParameterError


@dataclass(frozen=True)
class Param:
    """One parameter.

    ``kind`` is ``float``, ``int``, ``bool``, ``str`` or ``choice`` (then ``choices``).
    ``low``/``high`` are inclusive bounds for numbers; ``None`` means unbounded.
    ``default`` may be ``None`` for optional parameters (the CLI flag may then be omitted).
    """

    name: str
    group: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def validate(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise ParameterError."""
        if value is None:
            if self.default is None:
                return None
            raise ParameterError(f"parameter '{self.name}' needs a value")
        try:
            if self.kind == "bool":
                if isinstance(value, str):
                    lowered = value.strip().lower()
                    if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                        raise ValueError(value)
                    value = lowered in {"true", "1", "yes"}
                converted: Any = bool(value)
            elif self.kind == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                converted = int(value)
            elif self.kind == "float":
                converted = float(value)
                if converted != converted or converted in (float("inf"), float("-inf")):
                    raise ValueError(value)
            elif self.kind == "choice":
                converted = str(value)
                if converted not in self.choices:
                    raise ParameterError(
                        f"parameter '{self.name}' must be one of {', '.join(self.choices)}; "
                        f"got '{converted}'")
            else:
                converted = str(value)
        except (TypeError, ValueError):
            raise ParameterError(
                f"parameter '{self.name}' must be of type {self.kind}; got {value!r}") from None
        if self.kind in {"int", "float"}:
            if self.low is not None and converted < self.low:
                raise ParameterError(f"parameter '{self.name}' must be >= {self.low}; got {converted}")
            if self.high is not None and converted > self.high:
                raise ParameterError(f"parameter '{self.name}' must be <= {self.high}; got {converted}")
        return converted


PARAMS: tuple[Param, ...] = (
    # -- reader ----------------------------------------------------------------------------------
    Param("format", "reader", "str", None,
          "force a format: nwb, binary, mat or a neo name (Neuralynx, Plexon, Intan...)"),
    Param("stream", "reader", "str", None, "stream name or index (see 'spikeapp info')"),
    Param("channels", "reader", "str", None, "channels to use, e.g. 0,3-5 (default: all)"),
    Param("segment", "reader", "int", 0, "segment (recording block) to read", low=0),
    Param("sampling_rate", "reader", "float", None,
          "sampling rate of raw binary or MATLAB data", low=1e-3, unit="Hz"),
    Param("n_channels", "reader", "int", None, "channel count of raw binary data", low=1),
    Param("dtype", "reader", "choice", None, "sample type of raw binary data",
          choices=("int16", "uint16", "int32", "float32", "float64", "int8", "uint8")),
    Param("header_bytes", "reader", "int", 0, "bytes to skip at the start of raw binary data",
          low=0),
    Param("gain", "reader", "float", 1.0, "microvolts per unit of raw binary or MATLAB data"),
    Param("variable", "reader", "str", None, "MATLAB variable holding the signal"),
    # -- detection ---------------------------------------------------------------------------
    Param("freq_min", "detection", "float", 300.0, "high-pass corner of the band-pass filter",
          low=0.1, unit="Hz"),
    Param("freq_max", "detection", "float", 3000.0,
          "low-pass corner of the band-pass filter (capped below Nyquist)", low=1.0, unit="Hz"),
    Param("filter_order", "detection", "int", 3, "Butterworth order (applied forward and back)",
          low=1, high=8),
    Param("threshold", "detection", "float", 5.0,
          "detection threshold in multiples of the noise, median(|x|)/0.6745", low=1.0, high=100.0),
    Param("polarity", "detection", "choice", "negative", "sign of the spikes to detect",
          choices=("negative", "positive", "both")),
    Param("dead_time_ms", "detection", "float", 1.0,
          "minimum interval between two spikes on one channel or group", low=0.0, high=100.0,
          unit="ms"),
    Param("align_window_ms", "detection", "float", 0.5,
          "after a threshold crossing, where the spike's extremum is searched", low=0.0, high=5.0,
          unit="ms"),
    Param("interpolate", "detection", "bool", False,
          "sub-sample alignment: refine the extremum by parabolic interpolation and resample "
          "the waveform there"),
    Param("pre_ms", "detection", "float", 0.8333,
          "waveform window before the extremum (20 samples at 24 kHz)", low=0.05, high=10.0,
          unit="ms"),
    Param("post_ms", "detection", "float", 1.8333,
          "waveform window after the extremum (44 samples at 24 kHz)", low=0.05, high=10.0,
          unit="ms"),
    Param("n_pca", "detection", "int", 5, "number of PCA features per spike", low=1, high=20),
    Param("chunk_s", "detection", "float", 10.0,
          "length of the chunks the recording is processed in", low=0.05, high=600.0, unit="s"),
    Param("noise_s", "detection", "float", 20.0,
          "seconds of signal, in 0.5 s windows spread evenly, used to estimate the noise",
          low=0.1, unit="s"),
    # -- network (the 1D-CNN) ------------------------------------------------------------------
    Param("architecture", "network", "choice", "robust",
          "'paper': the published 1D-CNN; 'robust': with batch norm, dropout and pooling",
          choices=("paper", "robust")),
    Param("conv_layers", "network", "int", 3, "number of convolution blocks", low=1, high=6),
    Param("conv_channels", "network", "int", 8,
          "feature maps of the first convolution block (doubling with depth in 'robust')",
          low=4, high=256),
    Param("kernel_size", "network", "int", 5, "convolution kernel length (samples)", low=3, high=15),
    Param("hidden_units", "network", "int", 32, "width of the dense layer", low=8, high=1024),
    Param("dropout", "network", "float", 0.2, "dropout before the output layer", low=0.0, high=0.9),
    # -- training --------------------------------------------------------------------------------
    Param("epochs", "training", "int", 100, "maximum number of epochs", low=1, high=5000),
    Param("batch_size", "training", "int", 128, "mini-batch size", low=4, high=4096),
    Param("learning_rate", "training", "float", 3e-3, "AdamW learning rate", low=1e-6, high=1.0),
    Param("weight_decay", "training", "float", 1e-3, "AdamW weight decay", low=0.0, high=1.0),
    Param("validation_fraction", "training", "float", 0.2,
          "fraction of the labels held back to calibrate the confidence (and, with early "
          "stopping, half of them to stop on); none while a unit has fewer than 10 labels",
          low=0.0, high=0.5),
    Param("early_stopping", "training", "bool", False,
          "stop when half the held-out labels stop improving (the other half calibrates); off: "
          "the whole annealed schedule, weights averaged over its second half, and every "
          "held-out label calibrates"),
    Param("patience", "training", "int", 20,
          "with early stopping: epochs without validation improvement before stopping",
          low=1, high=1000),
    Param("whiten", "training", "bool", True,
          "whiten the recording's noise before the network (covariance of the labelled spikes "
          "minus their unit's mean, Ledoit-Wolf shrinkage)"),
    Param("augment", "training", "bool", True,
          "augment with recording noise, jitter, amplitude scaling and overlapping spikes"),
    # Half a sample: where the peak of a spike aligned to whole samples (the detector's default)
    # really falls. More blurs units whose shapes differ by a shift: at Difficult2 noise 0.20
    # (aligned finer than that) with 100 labels per unit, +-2 samples cost 2 points, +-0.5 less
    # than 0.5. Without it a sharp unit nobody labelled splits by sampling phase in the
    # network's embedding (demo unit C).
    Param("jitter", "training", "float", 0.5,
          "augmentation: largest shift of a training spike along time (fractions interpolate)",
          low=0.0, high=16.0, unit="samples"),
    # Averaging over the sampling phase: at Difficult2 noise 0.10, 10 draws each of 10, 20, 50 and
    # 100 labels per unit, errors fell from 89 to 82 (LDA: 725). It removes a spike whose unit
    # flipped with half a sample; what is left are two overlaps unlike every unit.
    Param("phase_average", "training", "bool", True,
          "predict each spike as the average of the network's outputs at shifts of -jitter, 0 "
          "and +jitter samples (where its peak fell between samples is unknown); 3x the "
          "prediction time"),
    Param("samples_per_epoch", "training", "int", 1024,
          "class-balanced samples drawn per epoch", low=64, high=1_000_000),
    Param("pseudo_labels", "training", "int", 1000,
          "self-training: after a first fit, up to this many of the most confident unlabelled "
          "spikes per unit join the training set for a second fit (0: off)", low=0,
          high=100_000),
    Param("teacher", "training", "choice", "agreement",
          "who picks the self-training pseudo-labels: 'agreement', the unlabelled spikes on "
          "which a first fit of the network and shrinkage LDA self-trained on the unlabelled "
          "spikes name the same unit, both sure (each catches the other's mistakes); 'lda', "
          "the self-trained LDA alone; 'network', the network's own first fit",
          choices=("agreement", "lda", "network")),
    Param("pseudo_confidence", "training", "float", 0.9,
          "least confidence of a spike used as a pseudo-label", low=0.5, high=1.0),
    # 0.5: on the suite's tuning seeds (101 and 102; 7 single channels and 3 tetrodes, 3
    # training seeds each, 20 labels per unit, held-out labels fixed): the network alone
    # averaged 72.16 % with a worst spread over training seeds of 1.74 points (mean 0.90);
    # with the teacher's vote at half, 72.15 % and 1.00 (mean 0.37).
    Param("teacher_share", "training", "float", 0.5,
          "the LDA teacher's share of the prediction: its class probabilities are averaged with "
          "the network's (steadier from one training to the next; 0: the network alone)",
          low=0.0, high=1.0),
    # 10: on the suite's tuning seed (101; 6 cases, 2 label draws), mean accuracy over 2, 6, 10
    # and 20 hand labels per unit: cores kept 71.9 %, giving way at 4: 70.9 %, at 10: 72.2 %
    # (without proposals 66.0 %); at 4 the big units lose their cores while the small ones keep
    # theirs, and 2 labels per unit fell to 63.5 % (kept: 70.0 %).
    Param("cores_give_way", "training", "int", 10,
          "accepted proposals' core spikes train a unit until it has this many labels of a "
          "person's own; then they leave the training and the network predicts them like any "
          "other spike (0: they stay labels)", low=0, high=100_000),
    Param("seed", "training", "int", 0, "random seed (reproducible training)", low=0),
    Param("threads", "training", "int", 0, "torch CPU threads (0: all cores but one)", low=0,
          high=256),
    Param("device", "training", "choice", "auto", "where to train",
          choices=("auto", "cpu", "cuda", "mps")),
    Param("match_templates", "training", "bool", True,
          "after a training, the sorted units' templates search the recording for the spikes "
          "the threshold missed (template matching; found spikes are marked, Ctrl+Z takes them "
          "back)"),
    Param("min_confidence", "training", "float", 0.0,
          "spikes predicted with lower calibrated confidence go to 'unresolved'", low=0.0,
          high=1.0),
)

_BY_NAME = {p.name: p for p in PARAMS}


def param(name: str) -> Param:
    """The parameter called ``name``."""
    return _BY_NAME[name]


def params_in(group: str) -> tuple[Param, ...]:
    """All parameters of one group, in table order."""
    return tuple(p for p in PARAMS if p.group == group)


def defaults(group: str) -> dict[str, Any]:
    """Default values of one group."""
    return {p.name: p.default for p in params_in(group)}


def resolve(group: str, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults of ``group`` overridden by ``values``, validated. Unknown names are an error."""
    values = dict(values or {})
    known = {p.name for p in params_in(group)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ParameterError(f"unknown {group} parameter(s): {', '.join(unknown)}")
    resolved = defaults(group)
    for name, value in values.items():
        resolved[name] = _BY_NAME[name].validate(value)
    return resolved


def add_arguments(parser: argparse.ArgumentParser, groups: Iterable[str]) -> None:
    """Add one CLI flag per parameter of ``groups``; their defaults stay ``None`` (unset)."""
    for group in groups:
        section = parser.add_argument_group(f"{group} parameters")
        for p in params_in(group):
            unit = f" [{p.unit}]" if p.unit else ""
            help_text = f"{p.help}{unit} (default: {p.default})"
            if p.kind == "bool":
                section.add_argument(p.flag, dest=p.name, action=argparse.BooleanOptionalAction,
                                     default=None, help=help_text)
            elif p.kind == "choice":
                section.add_argument(p.flag, dest=p.name, choices=p.choices, default=None,
                                     help=help_text)
            else:
                section.add_argument(p.flag, dest=p.name, default=None, help=help_text,
                                     metavar=p.kind.upper())


def from_namespace(namespace: argparse.Namespace, group: str) -> dict[str, Any]:
    """The validated parameters of ``group`` given on the command line (unset ones defaulted)."""
    given = {p.name: getattr(namespace, p.name) for p in params_in(group)
             if getattr(namespace, p.name, None) is not None}
    return resolve(group, given)
