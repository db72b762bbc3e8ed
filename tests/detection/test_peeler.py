"""Template matching finds the spikes a threshold misses, and the session keeps them apart."""

import numpy as np
import pytest

from spikeapp.detection import detect
from spikeapp.detection.filtering import BandPass
from spikeapp.detection.peeler import GroupTemplates, find_missed_spikes
from spikeapp.io.base import ArrayRecording
from spikeapp.session import NETWORK, Session
from spikeapp.session import commands as cmd
from spikeapp.tasks import run_job
from spikeapp.workflow.recovery import FROM_TEMPLATE, find_missed, with_found_spikes

FS = 24_000.0


def _unit(fs: float = FS) -> np.ndarray:
    t = (np.arange(72) - 24) / fs * 1000
    wave = -np.exp(-0.5 * (t / 0.12) ** 2) + 0.4 * np.exp(-0.5 * ((t - 0.4) / 0.3) ** 2)
    return wave / -wave.min()


def _recording(seed: int = 0, seconds: float = 20.0):
    """White noise (SD 1 after the band-pass, roughly) with one big unit at 12 x the noise and
    one small unit at 4 x: under a 5 x threshold."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    data = rng.normal(0, 1.0, (n, 1))
    band = BandPass.design(FS, 300, 3000, 3)
    sd = np.median(np.abs(band.apply(data.T)[0])) / 0.6745
    data /= sd
    truth = {}
    for name, amplitude, rate in (("big", 14.0, 6.0), ("small", 4.5, 6.0)):
        times = np.sort(rng.choice(np.arange(100, n - 100), int(rate * seconds), replace=False))
        template = _unit() * amplitude
        for at in times:
            data[at - 24:at + 48, 0] += template
        truth[name] = times
    return data.astype(np.float32), truth


def test_the_peeler_finds_spikes_under_the_threshold_and_marks_them():
    data, truth = _recording()
    recording = ArrayRecording(data, FS)
    detection = run_job(detect(recording))
    session = Session(detection)
    history = cmd.History(session)
    samples = detection.samples

    def nearest(times):
        rows = np.clip(np.searchsorted(samples, times), 1, len(samples) - 1)
        left = np.where(np.abs(samples[rows - 1] - times) < np.abs(samples[rows] - times),
                        rows - 1, rows)
        return left[np.abs(samples[left] - times) <= 3]

    big, small = nearest(truth["big"]), nearest(truth["small"])
    assert len(big) > 100 and 5 <= len(small) < 0.6 * len(truth["small"])
    history.do(cmd.label_new_unit(session, big, name="big"))
    history.do(cmd.label_new_unit(session, small, name="small"))
    found = run_job(find_missed(session, recording, min_score=4.5))
    grown, rows = with_found_spikes(session, found)
    d = grown.detection
    assert np.all(np.diff(d.samples) >= 0) and grown.n_spikes == session.n_spikes + len(rows)
    assert (d.origin[rows] == FROM_TEMPLATE).all() and (d.origin == FROM_TEMPLATE).sum() == len(rows)
    assert (grown.source[rows] == NETWORK).all()
    small_id = grown.unit_by_name(int(d.group_ids[0]), "small").id
    in_small = np.sort(d.samples[grown.assignment == small_id])
    hit = np.abs(in_small[:, None] - truth["small"][None, :]).min(axis=0) <= 3
    # The small unit, mostly under the threshold (a fifth detected), is three times as found...
    assert hit.mean() >= 0.6
    # ... and what was found is the small unit's spikes, not noise.
    found_small = d.samples[rows][grown.assignment[rows] == small_id]
    true_hit = np.abs(found_small[:, None] - truth["small"][None, :]).min(axis=1) <= 3
    assert true_hit.mean() >= 0.85
    # Every earlier spike kept its unit and source.
    old_rows = np.flatnonzero(d.origin == 0)
    assert np.array_equal(grown.assignment[old_rows], session.assignment)
    assert np.array_equal(grown.source[old_rows], session.source)


def test_the_peeler_finds_nothing_in_noise_alone():
    rng = np.random.default_rng(1)
    data = rng.normal(0, 1.0, (int(10 * FS), 1)).astype(np.float32)
    band = BandPass.design(FS, 300, 3000, 3)
    template = (_unit() * 5 * np.median(np.abs(band.apply(data.T)[0])) / 0.6745)[None, None, :]
    groups = [GroupTemplates(0, np.array([0]), np.array([7]), template.astype(np.float32),
                             np.zeros(0, np.int64), np.zeros(0, np.int64))]
    found = run_job(find_missed_spikes(ArrayRecording(data, FS), groups, band, 24, 48, 1,
                                        min_score=4.5))
    assert len(found.samples) <= 1


def test_found_spikes_survive_a_save_and_older_sessions_open_without_them(tmp_path):
    from spikeapp.session.storage import load_session, save_session
    from tests.session.test_selection_and_commands import small_session

    session = small_session()
    session.detection.origin[3] = FROM_TEMPLATE
    save_session(session, tmp_path / "a.spikeapp")
    assert load_session(tmp_path / "a.spikeapp").detection.origin.tolist() == \
        session.detection.origin.tolist()
    import zipfile

    with zipfile.ZipFile(tmp_path / "a.spikeapp") as source, \
            zipfile.ZipFile(tmp_path / "old.spikeapp", "w") as old:
        for item in source.namelist():
            if item != "detection/origin.npy":
                old.writestr(item, source.read(item))
    loaded = load_session(tmp_path / "old.spikeapp")
    assert loaded.detection.origin.tolist() == [0] * session.n_spikes


@pytest.mark.parametrize("source", ["network", "template"])
def test_exports_say_who_put_a_spike_in_its_unit(source):
    from spikeapp.export.common import labelled_by
    from tests.session.test_selection_and_commands import small_session

    session = small_session()
    history = cmd.History(session)
    history.do(cmd.label_new_unit(session, np.arange(2), name="a"))
    unit = session.unit_by_name(0, "a").id
    history.do(cmd.apply_predictions(session, 0, np.arange(2, 4), np.full(2, unit),
                                     np.ones(2, np.float32), b"net"))
    if source == "template":
        session.detection.origin[2:4] = FROM_TEMPLATE
    assert labelled_by(session, np.arange(4)).tolist() == ["human", "human", source, source]
