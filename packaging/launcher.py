"""Entry point of the frozen application: the same command line as `spikeapp`."""

import multiprocessing
import sys

from spikeapp.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
