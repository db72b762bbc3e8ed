"""``spikeapp --self-test``: does this installation work? Every part a sort needs, end to end on
a small generated recording: torch, a recording written and read back through neo, detection,
training a tiny network, and the main window built offscreen. Prints each step; exits 0 when
all pass, 1 (naming what failed) otherwise."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

# Share of its own labelled spikes the self-test's tiny network must sort back into their units
# (100 % on the demo in 20 short epochs; 5 epochs give 10 %, and fail).
MIN_SELF_TEST_AGREEMENT = 0.9


def _step(name: str, action: Callable[[], str], failures: list[str]) -> None:
    started = time.perf_counter()
    try:
        detail = action()
    except Exception as error:  # noqa: BLE001 - the point is to report any failure
        failures.append(name)
        print(f"FAIL  {name}: {type(error).__name__}: {error}")
        if os.environ.get("SPIKEAPP_DEBUG"):
            traceback.print_exc()
        return
    print(f"ok    {name} ({time.perf_counter() - started:.1f} s){': ' + detail if detail else ''}")


def run_self_test() -> int:
    from spikeapp import __version__

    print(f"spikeapp {__version__} self-test, Python {sys.version.split()[0]} on {sys.platform}")
    failures: list[str] = []
    state: dict = {}

    def torch_works() -> str:
        from spikeapp.training.device import check_torch

        return check_torch()

    def neo_round_trip() -> str:
        from spikeapp.io import open_recording
        from spikeapp.io.demo import make_demo
        from spikeapp.io.writers import write_recording

        folder = Path(state["folder"])
        demo = make_demo(seed=0, duration_s=8.0)
        path = folder / "selftest.nix"
        write_recording(path, demo.data, demo.sampling_rate,
                        [f"ch{i}" for i in range(demo.data.shape[1])])  # through neo's NixIO
        recording = open_recording(path)
        state["demo"], state["recording"] = demo, recording
        # Read back and compared with what was written: a file that opens with a wrong gain,
        # channel order or offset must fail here.
        if (recording.n_channels, recording.n_samples) != demo.data.shape[::-1]:
            raise RuntimeError(f"wrote {demo.data.shape[1]} channels x {demo.data.shape[0]} "
                               f"samples, read back {recording.n_channels} x "
                               f"{recording.n_samples}")
        if abs(recording.sampling_rate - demo.sampling_rate) > 1e-6 * demo.sampling_rate:
            raise RuntimeError(f"wrote {demo.sampling_rate:g} Hz, read back "
                               f"{recording.sampling_rate:g} Hz")
        n = min(demo.data.shape[0], 20_000)
        got, wrote = recording.read(0, n), np.asarray(demo.data[:n], dtype=np.float32)
        worst = float(np.abs(got - wrote).max())
        if not np.allclose(got, wrote, rtol=1e-4, atol=1e-2):
            raise RuntimeError(f"the samples read back differ from those written by up to "
                               f"{worst:.3g} µV (a wrong gain, offset or channel order)")
        return (f"{recording.n_channels} channels, {recording.n_samples} samples via neo, "
                f"values read back as written")

    def detection() -> str:
        from spikeapp.detection import detect
        from spikeapp.tasks import run_job

        result = run_job(detect(state["recording"]))
        state["detection"] = result
        if result.n_spikes < 50:
            raise RuntimeError(f"only {result.n_spikes} spikes detected in the demo")
        return f"{result.n_spikes} spikes"

    def training() -> str:
        import numpy as np

        from spikeapp.io.seeds import Seeds
        from spikeapp.session import Session
        from spikeapp.session import commands as cmd
        from spikeapp.tasks import run_job
        from spikeapp.workflow.sorting import apply_seeds, match_seeds, snapshot_training, train_and_predict

        demo = state["demo"]
        session = Session(state["detection"])
        rng = np.random.default_rng(0)
        rows = np.concatenate([rng.choice(np.flatnonzero(demo.truth_units == u), 10,
                                          replace=False) for u in ("A", "B", "C")])
        seeds = Seeds(demo.truth_times_s[rows], demo.truth_channels[rows], demo.truth_units[rows])
        found, _ = match_seeds(session, seeds)
        apply_seeds(session, cmd.History(session), seeds)
        labelled, wanted = found[found >= 0], seeds.units[found >= 0]
        order = np.argsort(labelled)
        labelled, wanted = labelled[order], wanted[order]
        output = run_job(train_and_predict(
            snapshot_training(session, 0), {"conv_channels": 4, "hidden_units": 8},
            {"epochs": 20, "samples_per_epoch": 256, "pseudo_labels": 0, "threads": 1}))
        # The network must sort back the spikes it learnt from: a torch that runs but does not
        # learn (a broken build, a wrong device) fails here.
        position = np.searchsorted(output.spikes, labelled)
        names = {u.id: u.name for u in session.units.values()}
        predicted = np.array([names.get(int(a), "") for a in output.assigned[position]])
        agree = float((predicted == wanted).mean())
        if agree < MIN_SELF_TEST_AGREEMENT:
            raise RuntimeError(f"the tiny network sorted only {agree:.0%} of its own "
                               f"{len(labelled)} labelled spikes into their units")
        return (f"tiny network trained, {len(output.spikes)} spikes predicted; {agree:.0%} of "
                "its labelled spikes sorted back into their units")

    def window() -> str:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from spikeapp.gui.app import check_window

        return check_window()

    with tempfile.TemporaryDirectory(prefix="spikeapp-selftest-") as folder:
        state["folder"] = folder
        _step("torch", torch_works, failures)
        _step("recording through neo", neo_round_trip, failures)
        if "recording" in state:
            _step("detection", detection, failures)
            state["recording"].close()
        if "detection" in state:
            _step("training", training, failures)
        _step("main window", window, failures)
    if failures:
        print(f"self-test FAILED: {', '.join(failures)}")
        return 1
    print("self-test passed")
    return 0
