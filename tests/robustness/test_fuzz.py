"""Hypothesis-driven fuzzing of the readers users feed files to: the session loader, the seed
and sorting CSVs, MATLAB recordings. Whatever the bytes, the answer is a valid object or a
SpikeappError naming the file; never another exception, never a changed file."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeapp.errors import SpikeappError
from spikeapp.io import open_recording
from spikeapp.io.seeds import read_seeds
from spikeapp.io.sortings import read_sorting
from spikeapp.session import Session
from spikeapp.session import commands as cmd
from spikeapp.session.storage import load_session, session_bytes
from tests.session.test_selection_and_commands import small_session

EXAMPLES = int(os.environ.get("SPIKEAPP_FUZZ_EXAMPLES", "150"))  # per fuzzer
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats()
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


def valid_session_bytes() -> bytes:
    session = small_session()
    history = cmd.History(session)
    history.do(cmd.label_new_unit(session, np.arange(3), name="x"))
    history.do(cmd.label_new_unit(session, np.arange(20, 24), name="y"))
    return session_bytes(session)


VALID = valid_session_bytes()


def check_session(path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        session = load_session(path)
    except SpikeappError as error:
        assert str(path) in str(error)
    else:
        assert isinstance(session, Session)
        session.spikes_of_group(int(session.groups[0])) if len(session.groups) else None
    assert path.read_bytes() == data


@FUZZ
@given(cut=st.integers(0, len(VALID)), flips=st.lists(
    st.tuples(st.integers(0, len(VALID) - 1), st.integers(1, 255)), max_size=8))
def test_session_loader_survives_truncation_and_corruption(tmp_path, cut, flips):
    data = bytearray(VALID)
    for position, value in flips:
        data[position] ^= value
    check_session(tmp_path / "fuzz.spikeapp", bytes(data[:cut] if cut < len(VALID) // 2
                                                    else data))


def _rewrite(replace: dict) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(VALID))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name in source.namelist():
            zf.writestr(name, replace.get(name, source.read(name)))
    return out.getvalue()


@FUZZ
@given(key=st.sampled_from(["schema_version", "units", "sampling_rate", "t_start",
                            "n_samples", "next_unit_id", "network_versions", "recording",
                            "detection_params", "training_params", "networks", "nothing"]),
       value=JSON)
def test_session_loader_survives_any_metadata_value(tmp_path, key, value):
    meta = json.loads(zipfile.ZipFile(io.BytesIO(VALID)).read("meta.json"))
    meta[key] = value
    check_session(tmp_path / "meta.spikeapp", _rewrite({"meta.json": json.dumps(meta)}))


@FUZZ
@given(unit=st.dictionaries(st.sampled_from(["id", "name", "group", "colour", "quality",
                                             "notes", "extra"]), JSON, max_size=7))
def test_session_loader_survives_any_unit_record(tmp_path, unit):
    meta = json.loads(zipfile.ZipFile(io.BytesIO(VALID)).read("meta.json"))
    meta["units"][0] = unit
    check_session(tmp_path / "unit.spikeapp", _rewrite({"meta.json": json.dumps(meta)}))


ARRAYS = ["detection/samples.npy", "detection/waveforms.npy", "detection/channels.npy",
          "detection/group_channels.npy", "state/assignment.npy", "state/source.npy",
          "state/confidence.npy"]


@FUZZ
@given(name=st.sampled_from(ARRAYS), shape=st.lists(st.integers(0, 5), max_size=3),
       dtype=st.sampled_from(["int64", "float32", "int8", "bool", "complex64", "<U3"]),
       seed=st.integers(0, 1000))
def test_session_loader_survives_arrays_of_any_shape_and_type(tmp_path, name, shape, dtype,
                                                               seed):
    rng = np.random.default_rng(seed)
    array = rng.integers(-3, 5, size=shape).astype(dtype)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    check_session(tmp_path / "array.spikeapp", _rewrite({name: buffer.getvalue()}))


CSV_TEXT = st.text(alphabet=st.sampled_from(list("time_s,channelunit0123456789.-eE\n\r \"x#")),
                   max_size=200)


@FUZZ
@given(body=CSV_TEXT, header=st.booleans())
def test_seed_csv_reader(tmp_path, body, header):
    path = tmp_path / "seeds.csv"
    path.write_text(("time_s,channel,unit\n" if header else "") + body, encoding="utf-8")
    try:
        seeds = read_seeds(path)
    except SpikeappError as error:
        assert "seeds.csv" in str(error)
    else:
        assert len(seeds.times_s) == len(seeds.channels) == len(seeds.units)
        assert np.isfinite(seeds.times_s).all()


@FUZZ
@given(body=CSV_TEXT, header=st.booleans())
def test_sorting_csv_reader(tmp_path, body, header):
    path = tmp_path / "sorting.csv"
    path.write_text(("unit,channel,time_s\n" if header else "") + body, encoding="utf-8")
    try:
        sorting = read_sorting(path)
    except SpikeappError as error:
        assert "sorting.csv" in str(error)
    else:
        assert len(sorting.times_s) == len(sorting.units) == len(sorting.electrodes)


def valid_mat() -> bytes:
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"data": np.random.default_rng(0).normal(size=(1, 3000)),
                              "samplingInterval": 1 / 24.0})
    return buffer.getvalue()


MAT = valid_mat()


@FUZZ
@given(cut=st.integers(0, len(MAT)), flips=st.lists(
    st.tuples(st.integers(0, len(MAT) - 1), st.integers(1, 255)), max_size=6))
def test_mat_reader_survives_truncation_and_corruption(tmp_path, cut, flips):
    data = bytearray(MAT)
    for position, value in flips:
        data[position] ^= value
    path = tmp_path / "signal.mat"
    path.write_bytes(bytes(data[:cut]))
    try:
        with open_recording(path, sampling_rate=24000.0) as recording:
            block = recording.read(0, min(100, recording.n_samples))
            assert np.isfinite(block).all()
    except SpikeappError as error:
        assert "signal.mat" in str(error)
