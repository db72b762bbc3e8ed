"""Recordings in (neo, pynwb, raw binary, MATLAB) and seed labels."""

from spikeapp.io.base import Recording, RecordingInfo, StreamInfo, UnitInfo, parse_index_list
from spikeapp.io.open import FORMATS, open_recording, reader_options

__all__ = ["FORMATS", "Recording", "RecordingInfo", "StreamInfo", "UnitInfo", "open_recording",
           "parse_index_list", "reader_options"]
