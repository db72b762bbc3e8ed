"""Crash consistency, the way storage engines test it: every state a power cut could leave.

    python benchmarks/crash_states.py [--edits 40] [--mixes 4] [--seed 0]

A labelling run through the Workspace (new units, labels, merges, splits, undo and redo, three
saves: of the untitled session, then twice of its file; journal checkpoints every 7 records) is
traced: every fsync of a file or folder, every rename and every removal the journal and the
saver make is an event. Before each event the harness reads what the process sees on disk (the
names and bytes of every file under the session's folder and the data folder: what survives a
kill), and keeps a model of what a power cut would keep (what survives the loss of the operating
system's cache): a file's bytes as they were at its last fsync, a folder's names as they were at
its last fsync (a new file, a rename, a removal are only durable once their folder is synced).

At every event it builds the crash states from these two: the durable state alone, the process's
view (a kill), and ``--mixes`` random states between them (each name that is not yet durable
there or not, each file's unsynced bytes cut at a random point: a torn write). Each state is
restored where the run was (the journals name files by their full paths) and opened as a user
would after the restart: a crashed journal is recovered, else the session file is opened, else
there is nothing. It must give one of the true states of the run, no older than the last edit
whose journal record (or save) was synced before the crash and no newer than the last edit made;
an error is allowed only where nothing synced is lost. Prints the crash states checked, the ones
that lost a synced edit, the ones that recovered a state that never was, and the errors shown,
then ``inconsistent N``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spikeapp.errors import SpikeappError  # noqa: E402
from spikeapp.session import Session  # noqa: E402
from spikeapp.session.invariants import states_equal  # noqa: E402
from spikeapp.session.state import UNASSIGNED  # noqa: E402
from spikeapp.workflow import journal as journal_  # noqa: E402
from spikeapp.workflow.workspace import Workspace  # noqa: E402

Folders = dict[int, dict[str, tuple[bool, int]]]   # folder inode -> name -> (is a folder, inode)


@dataclass
class Event:
    kind: str            # fsync-file, fsync-folder, replace, remove
    path: str            # relative to the root
    folders: Folders     # what the process saw just before it: every folder's entries,
    files: dict[int, bytes]          # and every file's bytes
    durable: Folders     # what a power cut would have kept: the folders' synced entries,
    synced: dict[int, bytes]         # and the files' synced bytes
    edits_made: int      # edits issued before it
    edits_synced: int    # edits durable before it (their record synced, or saved)


@dataclass
class Trace:
    """The events of a run and the model of what is durable (by inode, as a file system
    keeps it: a renamed folder keeps its entries)."""

    root: Path
    events: list[Event] = field(default_factory=list)
    synced: dict[int, bytes] = field(default_factory=dict)      # file inode -> synced bytes
    durable: Folders = field(default_factory=dict)              # folder inode -> entries
    edits_made: int = 0
    edits_synced: int = 0
    # Inode numbers are reused once freed: a file's identity is its inode until it is removed
    # (or replaced), then a new one, so that a new file never inherits an old one's entries.
    ident: dict[int, int] = field(default_factory=dict)
    issued: int = 0

    def identity(self, inode: int) -> int:
        if inode not in self.ident:
            self.issued += 1
            self.ident[inode] = self.issued
        return self.ident[inode]

    def forget(self, path: str) -> None:
        """The inodes of ``path`` (a file or a folder tree) are about to be freed."""
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                for folder, dirs, files in os.walk(path):
                    for name in dirs + files + [""]:
                        self.ident.pop(os.lstat(os.path.join(folder, name)).st_ino, None)
            else:
                self.ident.pop(os.lstat(path).st_ino, None)
        except FileNotFoundError:
            pass

    @property
    def root_inode(self) -> int:
        return self.identity(os.stat(self.root).st_ino)

    def view(self) -> tuple[Folders, dict[int, bytes]]:
        folders: Folders = {}
        files: dict[int, bytes] = {}
        for folder, _dirs, _files in os.walk(self.root):
            try:
                entries = {}
                for entry in os.scandir(folder):
                    entries[entry.name] = (entry.is_dir(follow_symlinks=False),
                                           self.identity(entry.inode()))
                    if not entry.is_dir(follow_symlinks=False):
                        with open(entry.path, "rb") as handle:
                            files[self.identity(entry.inode())] = handle.read()
                folders[self.identity(os.stat(folder).st_ino)] = entries
            except FileNotFoundError:
                pass
        return folders, files

    def start(self) -> None:
        """What exists before the run is durable."""
        self.durable, self.synced = self.view()

    def record(self, kind: str, path: str) -> None:
        rel = os.path.relpath(path, self.root)
        if rel.startswith(".."):
            return
        folders, files = self.view()
        self.events.append(Event(kind, rel, folders, files,
                                 {k: dict(v) for k, v in self.durable.items()},
                                 dict(self.synced), self.edits_made, self.edits_synced))

    def synced_file(self, path: str) -> None:
        try:
            stat = os.stat(path)
            with open(path, "rb") as handle:
                self.synced[self.identity(stat.st_ino)] = handle.read()
        except FileNotFoundError:
            pass

    def synced_folder(self, path: str) -> None:
        if os.path.relpath(path, self.root).startswith(".."):
            return
        self.durable[self.identity(os.stat(path).st_ino)] = {
            entry.name: (entry.is_dir(follow_symlinks=False), self.identity(entry.inode()))
            for entry in os.scandir(path)}


class Traced:
    """Patches os.fsync, os.replace, os.unlink and shutil.rmtree to record events."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def __enter__(self) -> Trace:
        trace = self.trace
        self.saved = (os.fsync, os.replace, os.unlink, shutil.rmtree)
        fsync, replace, unlink, rmtree = self.saved

        def traced_fsync(fd: int) -> None:
            path = os.readlink(f"/proc/self/fd/{fd}")
            folder = os.path.isdir(path)
            trace.record("fsync-folder" if folder else "fsync-file", path)
            fsync(fd)
            (trace.synced_folder if folder else trace.synced_file)(path)

        def traced_replace(src, dst, *args, **kwargs):
            trace.record("replace", str(dst))
            if os.path.isfile(dst):
                trace.forget(str(dst))    # the file it replaces is freed
            return replace(src, dst, *args, **kwargs)

        def traced_unlink(path, *args, **kwargs):
            trace.record("remove", str(path))
            trace.forget(str(path))
            return unlink(path, *args, **kwargs)

        def traced_rmtree(path, *args, **kwargs):
            trace.record("remove", str(path))
            trace.forget(str(path))
            return rmtree(path, *args, **kwargs)

        os.fsync, os.replace, os.unlink, shutil.rmtree = (traced_fsync, traced_replace,
                                                          traced_unlink, traced_rmtree)
        return trace

    def __exit__(self, *exc) -> None:
        os.fsync, os.replace, os.unlink, shutil.rmtree = self.saved


def detection(seed: int = 0):
    """A small detection: two single channels and a tetrode (the state machine's)."""
    sys.path.insert(0, str(ROOT))
    from tests.workflow.test_state_machine import machine_detection

    return machine_detection(seed)


def run(root: Path, edits: int, seed: int) -> tuple[Trace, list[Session], Path]:
    """The traced labelling run; the true states after each edit (0: before any)."""
    rng = np.random.default_rng(seed)
    data_dir, path = root / "data", root / "session.spikeapp"
    data_dir.mkdir(parents=True)
    trace = Trace(root)
    trace.start()    # the folders made before the run are durable, as a user's are
    states: list[Session] = []
    old_every = journal_.CHECKPOINT_EVERY
    journal_.CHECKPOINT_EVERY = 7     # checkpoints (and new journal files) in a short run
    try:
        with Traced(trace):
            ws = Workspace(data_dir)
            ws.set_session(Session(detection(seed), recording={"path": "<crash states>"}))
            states.append(journal_.snapshot_state(ws.session))
            # The untitled session saved, then its file twice: once after more records than
            # a checkpoint takes, once after fewer (the journal's base is then the file).
            saved_at = {max(2, edits // 2), max(3, 3 * edits // 4), max(4, 3 * edits // 4 + 3)}
            for number in range(1, edits + 1):
                trace.edits_made = number
                edit(ws, rng)
                states.append(journal_.snapshot_state(ws.session))
                ws.flush()
                trace.edits_synced = number
                if number in saved_at:
                    ws.save(path)    # a save: the journal goes, the file holds every edit
            ws.close(discard=False)
    finally:
        journal_.CHECKPOINT_EVERY = old_every
    return trace, states, path


def edit(ws: Workspace, rng: np.random.Generator) -> None:
    """One edit a person makes: labels, new units, merges, splits, undo, redo."""
    session = ws.session
    group = int(rng.choice(session.detection.group_ids))
    pool = session.spikes_of_group(group)
    units = [u.id for u in session.units.values() if u.group == group]
    choice = rng.random()
    spikes = np.unique(rng.choice(pool, rng.integers(1, 8)))
    try:
        if choice < 0.1 and ws.history.can_undo:
            ws.undo()
        elif choice < 0.15 and ws.history.can_redo:
            ws.redo()
        elif choice < 0.35 or not units:
            ws.label_new_unit(spikes)
        elif choice < 0.7:
            ws.label(spikes, int(rng.choice(units)))
        elif choice < 0.8 and len(units) >= 2:
            ws.merge([int(u) for u in rng.choice(units, 2, replace=False)])
        else:
            assigned = pool[session.assignment[pool] != UNASSIGNED]
            if len(assigned):
                ws.split(np.unique(rng.choice(assigned, rng.integers(1, 4))))
            else:
                ws.label_new_unit(spikes)
    except SpikeappError:
        ws.label_new_unit(spikes)


Tree = dict[str, bytes | None]   # relative path -> bytes; None: a folder


def crash_states(event: Event, root_inode: int, mixes: int, rng: np.random.Generator
                 ) -> list[tuple[str, Tree]]:
    """The durable state, the process's view, and ``mixes`` states between them: each folder
    entry not yet durable (made, renamed or removed since the folder's last sync) as it was
    synced or as it is, each file's bytes as synced plus a random part of what was written
    since (a torn write)."""
    def build(entries_of, content_of) -> Tree:
        out: Tree = {}

        def walk(inode: int, prefix: str, seen: set[int]) -> None:
            if inode in seen:
                return
            for name, (is_folder, child) in sorted(entries_of(inode).items()):
                path = f"{prefix}{name}"
                if is_folder:
                    out[path] = None
                    walk(child, path + "/", seen | {inode})
                else:
                    out[path] = content_of(child)
        walk(root_inode, "", set())
        return out

    def view_entries(inode):
        return event.folders.get(inode, {})

    def durable_entries(inode):
        return event.durable.get(inode, {})

    out = [("durable", build(durable_entries, lambda i: event.synced.get(i, b""))),
           ("view", build(view_entries, lambda i: event.files.get(i, b"")))]
    for k in range(mixes):
        chosen: dict[int, dict[str, tuple[bool, int]]] = {}
        contents: dict[int, bytes] = {}

        def mixed_entries(inode, chosen=chosen):
            if inode not in chosen:
                old, new = durable_entries(inode), view_entries(inode)
                entries = {}
                for name in set(old) | set(new):
                    options = [v for v in (old.get(name), new.get(name))]
                    pick = options[int(rng.integers(2))] if old.get(name) != new.get(name) \
                        else old.get(name)
                    if pick is not None:
                        entries[name] = pick
                chosen[inode] = entries
            return chosen[inode]

        def mixed_content(inode, contents=contents):
            if inode not in contents:
                synced, seen = event.synced.get(inode, b""), event.files.get(inode)
                if seen is None or seen == synced:
                    contents[inode] = synced
                elif seen.startswith(synced):      # appended since its sync: torn
                    contents[inode] = seen[:int(rng.integers(len(synced), len(seen) + 1))]
                else:                              # rewritten since: the old or part of the new
                    contents[inode] = synced if rng.random() < 0.5 else \
                        seen[:int(rng.integers(0, len(seen) + 1))]
            return contents[inode]

        out.append((f"mix {k}", build(mixed_entries, mixed_content)))
    return out


def restore(state: Tree, root: Path) -> None:
    root.mkdir(parents=True)
    for path, value in sorted(state.items(), key=lambda item: item[0].count("/")):
        target = root / path
        if value is None:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(value)


def reopen(root: Path) -> tuple[Session | None, str]:
    """What the user gets after the restart: a crashed journal recovered, else the session
    file opened, else nothing. Returns it and the message shown (or "")."""
    data_dir, path = root / "data", root / "session.spikeapp"
    ws = Workspace(data_dir)
    try:
        found = ws.crashed()
        if found:
            ws.recover(found[0])
            session = journal_.snapshot_state(ws.session)
            ws.close(discard=False)
            return session, ""
        if path.exists():
            ws.open(path)
            session = journal_.snapshot_state(ws.session)
            ws.close(discard=False)
            return session, ""
        return None, ""
    except SpikeappError as error:
        message = str(error)
    # After a refused recovery the user opens the file itself.
    try:
        if path.exists():
            ws = Workspace(data_dir, journal=False)
            ws.open(path)
            return journal_.snapshot_state(ws.session), message
    except SpikeappError as error:
        message += f"; {error}"
    return None, message


@dataclass
class Outcome:
    checked: int = 0
    lost: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)

    @property
    def inconsistent(self) -> int:
        return len(self.lost) + len(self.phantom) + len(self.crashes)


def check(trace: Trace, states: list[Session], mixes: int, seed: int, every: int = 1
          ) -> Outcome:
    """Every crash state restored where the run was (the journals name their files by their
    full paths), reopened and judged."""
    rng = np.random.default_rng([seed, 1])
    outcome = Outcome()
    where = trace.root
    root_inode = trace.root_inode
    for index, event in enumerate(trace.events[::every]):
        for label, state in crash_states(event, root_inode, mixes, rng):
            shutil.rmtree(where, ignore_errors=True)
            restore(state, where)
            name = f"event {index} ({event.kind} {event.path}), {label}"
            try:
                session, message = reopen(where)
            except Exception as error:  # noqa: BLE001 - a traceback is what is counted
                outcome.crashes.append(f"{name}: {type(error).__name__}: {error}")
                continue
            finally:
                outcome.checked += 1
            if message:
                outcome.errors.append(f"{name}: {message}")
            low, high = event.edits_synced, event.edits_made
            if session is None:
                if low > 0:
                    outcome.lost.append(f"{name}: nothing reopens, {low} edit(s) were synced")
                continue
            matches = [m for m in range(len(states)) if not states_equal(session, states[m])]
            if not matches:
                outcome.phantom.append(f"{name}: a state that never was")
            elif max(matches) < low:
                outcome.lost.append(f"{name}: reopened at edit {max(matches)}, edit {low} was "
                                    "synced")
            elif min(matches) > high:
                outcome.phantom.append(f"{name}: reopened at edit {min(matches)}, only {high} "
                                       "made")
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--mixes", type=int, default=4, help="random crash states per event")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="spikeapp-crash-states-") as folder:
        trace, states, _ = run(Path(folder) / "run", args.edits, args.seed)
        kinds = {k: sum(e.kind == k for e in trace.events)
                 for k in ("fsync-file", "fsync-folder", "replace", "remove")}
        print(f"# {args.edits} edits, {len(trace.events)} events "
              + ", ".join(f"{k} {v}" for k, v in kinds.items()))
        outcome = check(trace, states, args.mixes, args.seed)
    for title, items in (("lost a synced edit", outcome.lost),
                         ("a state that never was", outcome.phantom),
                         ("traceback", outcome.crashes), ("message shown", outcome.errors)):
        print(f"{title}: {len(items)}")
        for item in items[:10]:
            print(f"  {item}")
    print(f"crash states checked {outcome.checked} in {time.perf_counter() - started:.0f} s")
    print(f"inconsistent {outcome.inconsistent}")
    return 1 if outcome.inconsistent else 0


if __name__ == "__main__":
    raise SystemExit(main())
