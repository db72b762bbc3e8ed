"""The sorting state, its commands and undo history, storage and autosave."""

from spikeapp.session.state import (
    ACCEPTED,
    HUMAN,
    IMPORTED,
    NETWORK,
    NONE,
    UNASSIGNED,
    UNRESOLVED,
    Session,
    Unit,
)

__all__ = ["ACCEPTED", "HUMAN", "IMPORTED", "NETWORK", "NONE", "UNASSIGNED", "UNRESOLVED", "Session", "Unit"]
