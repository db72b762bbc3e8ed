"""The sorting state, its commands and undo history, storage and autosave."""

from spikeapp.session.state import (
    HUMAN,
    IMPORTED,
    NETWORK,
    NONE,
    UNASSIGNED,
    UNRESOLVED,
    Session,
    Unit,
)

__all__ = ["HUMAN", "IMPORTED", "NETWORK", "NONE", "UNASSIGNED", "UNRESOLVED", "Session", "Unit"]
