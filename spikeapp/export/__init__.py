"""Spike trains out: files that other tools read back with the same spikes."""

from __future__ import annotations

from pathlib import Path

from spikeapp.errors import SpikeappError
from spikeapp.session import Session

FORMATS = {
    "nix": "NIX file (neo NixIO; Elephant): one Block per channel group, a SpikeTrain per unit",
    "nwb": "NWB file (pynwb; DANDI): units table with spike times, electrodes, mean waveforms",
    "phy": "phy template-gui folder (review the sorting in phy)",
    "mat": "Wave_clus times_*.mat files in a folder (MATLAB)",
    "csv": "spike table: unit, channel, time_s, confidence, labelled_by",
}
SUFFIX = {"nix": ".nix", "nwb": ".nwb", "csv": ".csv", "phy": "", "mat": ""}


def check_export(session: Session, fmt: str, out: str | Path) -> None:
    """What can be known before writing: units to export and a folder to write in (so a window
    says so at once instead of from a worker thread later)."""
    from spikeapp.atomic import check_folder

    out = Path(out)
    if fmt in FORMATS and not session.units:
        raise SpikeappError(f"{out}: nothing to export yet: the session has no units (label "
                            "spikes or train first)")
    check_folder(out)


def export(session: Session, fmt: str, out: str | Path, waveforms: bool = False,
           subject: dict | None = None) -> str:
    """Write ``session``'s units to ``out`` in format ``fmt``; returns a one-line summary.
    ``waveforms``: every spike's waveform in the NIX file; ``subject``: NWB subject fields."""
    out = Path(out)
    check_export(session, fmt, out)
    if fmt == "nix":
        from spikeapp.export.neo_nix import write_nix

        return f"{write_nix(session, out, waveforms=waveforms)} spike trains -> {out}"
    if fmt == "nwb":
        from spikeapp.export.nwb import write_nwb

        count, missing = write_nwb(session, out, subject)
        hint = (f" (subject {' and '.join(missing)} not given: DANDI and nwbinspector ask for "
                "them)") if missing else ""
        return f"{count} units -> {out}{hint}"
    if fmt == "phy":
        from spikeapp.export.phy import write_phy

        return f"{write_phy(session, out)} clusters -> {out} (open with: phy template-gui " \
               f"{out / 'params.py'})"
    if fmt == "mat":
        from spikeapp.export.wave_clus import write_wave_clus

        return f"{', '.join(write_wave_clus(session, out)) or 'no units'} -> {out}"
    if fmt == "csv":
        from spikeapp.export.spiketrains import write_spiketrains_csv

        return f"{write_spiketrains_csv(session, out)} spikes -> {out}"
    raise SpikeappError(f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}")
