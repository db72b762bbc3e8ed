"""Proposed units: a starting point on every channel or group before anyone labels a spike.

Each group's spikes are clustered in feature space (the detection's principal components, on
one common scale) by a full-covariance Gaussian mixture sized by AIC, fitted on a sample and
applied to every spike. Clusters that hold too few spikes are left out (noise, overlaps).
Mixture components whose mean waveforms are alike (one unit that drifts or bursts is not one
Gaussian) are merged. Each proposal has a *core*: its most typical spikes, those the mixture is
surest of and nearest its centre. Accepting a proposal labels its core as a new unit, so the
network trains from it and sorts the rest; a person corrects from there, as Wave_clus and
Offline Sorter users do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import SpikeappError
from spikeapp.session.state import UNASSIGNED, Session, as_span, in_sorted
from spikeapp.tasks import CancelToken, Job, Progress
from spikeapp.training.mixture import bic_mixture, mahalanobis

MAX_COMPONENTS = 12     # mixture components tried per group
SAMPLE = 20_000         # spikes the mixture is fitted on
MIN_SHARE = 0.01        # a proposal holds at least this share of its group's spikes
MIN_SPIKES = 30         # and at least this many
CORE = 50               # spikes per proposal that accepting it labels
SURE = 0.95             # least posterior probability of a core spike
ALIKE = 0.98            # mean waveforms correlated above this ...
AMPLITUDE_RATIO = 0.8   # ... with peak amplitudes within this ratio are one unit
COMPONENTS = 5          # principal components clustered
CHUNK = 200_000         # spikes given to the mixture at a time (its posteriors stay small)
# How the mixture's size is chosen, and when components are one unit: chosen on the suite's
# tuning seeds (benchmarks/proposals.py --tuning --no-network, 26 recordings, mean accuracy of
# the proposals alone): BIC and ALIKE 0.95 0.202, AIC 0.223, AIC and ALIKE 0.98 0.251 (0.995:
# 0.217; 3 components: 0.184; 20 mixture components: 0.246).
CRITERION = "aic"


@dataclass(frozen=True)
class Proposal:
    """One proposed unit of a group: every spike the mixture gives it, and its core."""

    group: int
    members: NDArray[np.int64]
    core: NDArray[np.int64]


def propose_group(session: Session, group: int, seed: int = 0) -> list[Proposal]:
    """The proposed units of one group, largest first."""
    d = session.detection
    spikes = session.spikes_of_group(group)
    if len(spikes) < 2 * MIN_SPIKES:
        return []
    rng = np.random.default_rng(seed)
    points = np.array(d.features[spikes, :COMPONENTS], dtype=np.float64)   # a copy: scaled
    centre, spread = points.mean(axis=0), points.std(axis=0)
    # One scale for every component: the leading ones carry the units, standardising each
    # would give the noise in the last ones the same weight.
    points -= centre
    points /= max(float(spread[0]), 1e-9)
    sample = points if len(points) <= SAMPLE else points[rng.choice(len(points), SAMPLE,
                                                                    replace=False)]
    mixture = bic_mixture(sample, min(MAX_COMPONENTS, len(sample) // MIN_SPIKES), seed,
                          reg_covar=1e-3, criterion=CRITERION)
    if mixture is None:
        return []
    owner = np.concatenate([mixture.predict(points[start:start + CHUNK])
                            for start in range(0, len(points), CHUNK)])
    owner, parts = _merge_alike(session, spikes, owner, mixture.n_components)
    certainty = _certainty(mixture, points, owner, parts)
    proposals = []
    for k in parts:
        rows = np.flatnonzero(owner == k)
        if len(rows) < max(MIN_SPIKES, MIN_SHARE * len(spikes)):
            continue
        sure = rows[certainty[rows] >= SURE]
        pool = sure if len(sure) >= min(CORE, len(rows)) // 2 else rows
        mean = points[pool].mean(axis=0)
        covariance = np.cov(points[pool].T) + 1e-3 * np.eye(points.shape[1])
        distance = mahalanobis(points[pool], mean, np.linalg.inv(covariance))
        core = pool[np.argsort(distance)[:CORE]]
        proposals.append(Proposal(int(group), spikes[rows], np.sort(spikes[core])))
    return sorted(proposals, key=lambda p: -len(p.members))


def _certainty(mixture, points: NDArray, owner: NDArray[np.int64],
               parts: dict[int, list[int]]) -> NDArray[np.float64]:
    """Each spike's posterior probability of its (merged) proposal: the sum over the mixture
    components it is made of. Worked out CHUNK spikes at a time: the posteriors of every spike
    at once took gigabytes at ten million spikes."""
    part_of = np.zeros((mixture.n_components, mixture.n_components))
    for root, components in parts.items():
        part_of[components, root] = 1.0
    certainty = np.empty(len(points))
    for start in range(0, len(points), CHUNK):
        mass = mixture.predict_proba(points[start:start + CHUNK]) @ part_of
        certainty[start:start + CHUNK] = np.take_along_axis(
            mass, owner[start:start + CHUNK, None], axis=1)[:, 0]
    return certainty


def _merge_alike(session: Session, spikes: NDArray[np.int64], owner: NDArray[np.int64],
                 components: int) -> tuple[NDArray[np.int64], dict[int, list[int]]]:
    """Components whose mean waveforms are alike become one (the lowest index names it).
    Returns the merged owner of each spike and the components each label is made of."""
    waveforms = session.detection.waveforms
    width = len(session.detection.group_members(int(session.detection.channels[spikes[0]])))
    means = {}
    for k in range(components):
        rows = np.flatnonzero(owner == k)
        if len(rows):
            chosen = rows[:: max(1, len(rows) // 500)]
            means[k] = np.asarray(waveforms[spikes[chosen]][:, :width], np.float64).mean(
                axis=0).ravel()
    parent = {k: k for k in means}

    def root(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    keys = sorted(means)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            ma, mb = means[a], means[b]
            peak_a, peak_b = np.abs(ma).max(), np.abs(mb).max()
            if min(peak_a, peak_b) / max(peak_a, peak_b, 1e-9) < AMPLITUDE_RATIO:
                continue
            if np.corrcoef(ma, mb)[0, 1] >= ALIKE:
                parent[root(b)] = root(a)
    merged = owner.copy()
    parts: dict[int, list[int]] = {}
    for k in keys:
        merged[owner == k] = root(k)
        parts.setdefault(root(k), []).append(k)
    return merged, parts


def propose_job(session: Session, seed: int = 0
                ) -> Callable[[CancelToken | None], Job[dict[int, list[Proposal]]]]:
    """Proposals for every group, as a job (the detection never changes, so the job reads it
    in place)."""
    groups = [int(g) for g in session.groups]

    def job(cancel: CancelToken | None = None) -> Job[dict[int, list[Proposal]]]:
        found = {}
        for k, group in enumerate(groups):
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield Progress(k, len(groups), f"proposing units on channel {group}", "propose")
            found[group] = propose_group(session, group, seed)
        return found

    return job


# -- a person's corrections before accepting ---------------------------------------------------------
def core_of(session: Session, members: NDArray[np.int64], size: int = CORE) -> NDArray[np.int64]:
    """The ``size`` spikes of ``members`` nearest their centre (Mahalanobis, in the clustered
    components): a proposal's core after a merge or a split."""
    features = np.asarray(session.detection.features[members, :COMPONENTS], dtype=np.float64)
    if len(members) <= size:
        return np.sort(members)
    covariance = np.cov(features.T) + 1e-6 * np.eye(features.shape[1]) * max(
        float(features.var()), 1e-12)
    distance = mahalanobis(features, features.mean(axis=0), np.linalg.inv(covariance))
    return np.sort(members[np.argsort(distance)[:size]])


def merge(session: Session, proposals: list[Proposal]) -> Proposal:
    """Several proposals of one group as one (a unit the mixture cut in pieces)."""
    groups = {p.group for p in proposals}
    if len(groups) != 1:
        raise SpikeappError("proposals of different channels cannot be merged")
    members = np.unique(np.concatenate([p.members for p in proposals]))
    return Proposal(groups.pop(), members, core_of(session, members))


def split(session: Session, proposal: Proposal, spikes: NDArray[np.int64]
          ) -> tuple[Proposal, Proposal]:
    """The ``spikes`` of ``proposal`` as a proposal of their own, and the rest (two units the
    mixture took for one); each gets its own core."""
    inside = np.isin(proposal.members, spikes)
    if not inside.any() or inside.all():
        raise SpikeappError("select some of the proposed unit's spikes, not all of them, to "
                            "split it")
    parts = (proposal.members[inside], proposal.members[~inside])
    return tuple(Proposal(proposal.group, m, core_of(session, m)) for m in parts)


def is_open(session: Session, proposal: Proposal) -> bool:
    """Still a proposal: most of its core is unassigned (accepting it, or labelling those spikes,
    closes it; undoing that opens it again)."""
    return bool(np.mean(session.assignment[proposal.core] == UNASSIGNED) > 0.5)


def unassigned_counts(session: Session, proposals: list[Proposal]) -> list[int]:
    """Per proposal, its spikes that no unit holds (what accepting it would give a unit).
    Where nearly every spike of the group is unassigned (before the first training), or nearly
    none, the few of the other kind are looked up in each proposal, which spares a gather of
    every member (ten million spikes: 40 ms a redraw)."""
    if not proposals:
        return []
    spikes = session.spikes_of_group(proposals[0].group)
    free = session.assignment[as_span(spikes, ordered=True)] == UNASSIGNED
    n_free = int(np.count_nonzero(free))
    if len(spikes) - n_free <= len(spikes) // 16:
        taken = spikes[~free]   # the few: each looked up in the members
        return [len(p.members) - int(np.count_nonzero(in_sorted(taken, p.members)))
                for p in proposals]
    if n_free <= len(spikes) // 16:
        loose = spikes[free]
        return [int(np.count_nonzero(in_sorted(loose, p.members))) for p in proposals]
    return [int(np.count_nonzero(session.assignment[p.members] == UNASSIGNED))
            for p in proposals]


def unassigned_of(session: Session, proposal: Proposal) -> NDArray[np.int64]:
    """The proposal's spikes that no unit holds."""
    return proposal.members[session.assignment[proposal.members] == UNASSIGNED]
