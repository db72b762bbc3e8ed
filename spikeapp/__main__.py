"""``python -m spikeapp``."""

from spikeapp.cli import main

raise SystemExit(main())
