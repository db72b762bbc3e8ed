"""What the views draw: each unit's spikes, found lazily, and the bounded sample drawn."""

import threading

import numpy as np
import pytest

from spikeapp.session.display import (
    Members,
    count_of,
    display_sample,
    sample_of,
    unit_members,
)
from spikeapp.session.state import UNASSIGNED, UNRESOLVED


def _plain(spikes, assignment):
    """The rule, written plainly: each present id's spikes, in order."""
    units = assignment[spikes]
    return {int(u): spikes[units == u] for u in np.unique(units)}


@pytest.mark.parametrize("run", [True, False])
@pytest.mark.parametrize("ids", [[UNASSIGNED, 3, 4, 7], [UNRESOLVED, UNASSIGNED, 1, 2, 12, 40],
                                 [5], [0, 300, 20000]])
def test_members_are_each_units_spikes_and_are_listed_only_when_asked(run, ids):
    rng = np.random.default_rng(len(ids))
    n = 5000
    assignment = np.asarray(ids)[rng.integers(0, len(ids), n)].astype(np.int64)
    assignment[:10] = 99                       # spikes of another group, never read
    spikes = np.arange(10, n) if run else np.sort(rng.choice(np.arange(10, n), 3000, False))
    members = unit_members(spikes, assignment)
    expected = _plain(spikes, assignment)
    assert list(members) == sorted(expected) and len(members) == len(expected)
    assert all(count_of(members, u) == len(expected[u]) for u in expected)
    assert count_of(members, 1234) == 0 and 1234 not in members and members.get(1234) is None
    if isinstance(members, Members):
        assert not members._lists                # counted, nothing listed yet
    for unit, spikes_of_unit in expected.items():
        assert np.array_equal(members[unit], spikes_of_unit)
    # Told which ids the spikes can hold (as the window tells it: the group's units, unassigned,
    # unresolved), the same; told too few, the counts do not add up and it finds them itself.
    for told in ([*ids, 99, 555], ids[1:]):
        again = unit_members(spikes, assignment, told)
        assert not isinstance(again, Members) or not again._lists
        assert list(again) == sorted(expected) and 555 not in again
        assert all(np.array_equal(again[u], expected[u]) for u in expected)


def test_a_big_units_sample_is_bounded_spread_over_time_and_its_own():
    n = 1_000_000
    assignment = np.where(np.arange(n) % 10 == 0, 2, 1).astype(np.int64)
    assignment[777] = 3                        # a unit of one spike
    members = unit_members(np.arange(n), assignment)
    assert isinstance(members, Members)
    big = sample_of(members, 1, 2000)
    assert len(big) == 2000 and (assignment[big] == 1).all()
    assert big.min() < n // 100 and big.max() > n - n // 100   # from the start to the end
    assert np.all(np.diff(big) > 0)
    assert not members._lists                  # sampled without listing the unit's 900,000
    assert sample_of(members, 3, 2000).tolist() == [777]
    drawn = display_sample(members, 2000, hidden={2})
    assert set(assignment[drawn].tolist()) == {1, 3} and len(drawn) == 2001
    # The same bound from a plain dict of lists.
    plain = display_sample(_plain(np.arange(n), assignment), 2000, hidden={2})
    assert len(plain) == 2001 and set(assignment[plain].tolist()) == {1, 3}


def test_members_listed_from_two_threads_at_once_agree():
    n = 400_000
    assignment = np.random.default_rng(0).integers(0, 4, n).astype(np.int64)
    members = unit_members(np.arange(n), assignment)
    got = []
    threads = [threading.Thread(target=lambda: got.append({u: members[u] for u in members}))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4
    for unit in members:
        assert all(g[unit] is got[0][unit] for g in got)   # listed once, shared
        assert np.array_equal(got[0][unit], np.flatnonzero(assignment == unit))
