"""The long run of the Workspace's stateful property test (tests/workflow/test_state_machine.py):
every user command in random order across three channel groups, with the state's invariants,
the journal's replay, undo-redo, save-reopen and crash-recovery checked after every step.

    python benchmarks/state_machine.py                 # 20,000 steps
    python benchmarks/state_machine.py --steps 100000

Prints the steps checked, the time taken and ``failures 0`` (or the first failing sequence,
shrunk by hypothesis, and exits 1). CI runs 2,000 steps of the same machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="steps to check at least")
    parser.add_argument("--run-length", type=int, default=60, help="steps per random run")
    args = parser.parse_args()
    examples = max(1, -(-args.steps // args.run_length))
    env = dict(os.environ, STATEFUL_EXAMPLES=str(examples), STATEFUL_STEPS=str(args.run_length),
               SPIKEAPP_CHECKS="1", QT_QPA_PLATFORM="offscreen")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                           str(ROOT / "tests/workflow/test_state_machine.py")], env=env,
                          cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    checked = [line for line in done.stdout.splitlines() if line.endswith("steps checked")]
    print(checked[-1] if checked else "steps checked: unknown (the run failed early)")
    print(f"seconds {seconds:.0f}")
    if done.returncode != 0:
        print(done.stdout[-20_000:])
        print("failures 1")
        return 1
    print("failures 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
