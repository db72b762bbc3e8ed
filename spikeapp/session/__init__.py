"""The sorting state, its commands and undo history, storage and autosave."""

from spikeapp.session.state import HUMAN, NETWORK, NONE, UNASSIGNED, UNRESOLVED, Session, Unit

__all__ = ["HUMAN", "NETWORK", "NONE", "UNASSIGNED", "UNRESOLVED", "Session", "Unit"]
