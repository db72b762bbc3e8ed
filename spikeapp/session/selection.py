"""Geometric selections computed on every spike (not on the drawn sample), without Qt."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def inside_polygon(x: NDArray, y: NDArray, polygon: NDArray) -> NDArray[np.bool_]:
    """Points (x, y) inside a closed polygon (even-odd rule), vectorised over points."""
    polygon = np.asarray(polygon, dtype=float)
    result = np.zeros(len(x), dtype=bool)
    # Only points in the bounding box can be inside: test those alone.
    (x_low, y_low), (x_high, y_high) = polygon.min(axis=0), polygon.max(axis=0)
    candidates = np.flatnonzero((x >= x_low) & (x <= x_high) & (y >= y_low) & (y <= y_high))
    # Sorted by y, the points an edge can cross (min(y1, y2) <= y < max(y1, y2)) are one
    # slice: each point is tested against the few edges at its height, not against all of
    # them (a lasso over millions of points: 1.7 s -> a fraction).
    order = np.argsort(y[candidates])   # ties may come in any order: each point is its own
    xs, ys = x[candidates][order], y[candidates][order]
    inside = np.zeros(len(xs), dtype=bool)
    px, py = polygon[:, 0], polygon[:, 1]
    qx, qy = np.roll(px, 1), np.roll(py, 1)
    for x1, y1, x2, y2 in zip(px, py, qx, qy):
        if y1 == y2:
            continue   # a horizontal edge is crossed by no horizontal ray
        begin, end = np.searchsorted(ys, [min(y1, y2), max(y1, y2)], side="left")
        band = slice(begin, end)
        at = (x2 - x1) * (ys[band] - y1) / (y2 - y1) + x1
        inside[band] ^= xs[band] < at
    result[candidates[order[inside]]] = True
    return result


def crossing_segment(waveforms: NDArray, start: tuple[float, float], end: tuple[float, float]
                     ) -> NDArray[np.bool_]:
    """Waveforms (n x samples, drawn as polylines) that intersect the segment from ``start``
    to ``end`` (sample, value), as Plexon's and Wave_clus' waveform-window selection."""
    (ax, ay), (bx, by) = sorted([tuple(map(float, start)), tuple(map(float, end))])
    last = waveforms.shape[1] - 1
    first_edge = int(np.clip(np.floor(ax), 0, max(last - 1, 0)))
    last_edge = int(np.clip(np.floor(bx), 0, max(last - 1, 0)))
    edges = np.arange(first_edge, last_edge + 1)
    px, qx = edges.astype(float), edges + 1.0
    py = waveforms[:, edges].astype(float)
    qy = waveforms[:, edges + 1].astype(float)

    def orient(x1, y1, x2, y2, x3, y3):
        return (x2 - x1) * (y3 - y1) - (y2 - y1) * (x3 - x1)

    o1 = orient(ax, ay, bx, by, px, py)
    o2 = orient(ax, ay, bx, by, qx, qy)
    o3 = orient(px, py, qx, qy, ax, ay)
    o4 = orient(px, py, qx, qy, bx, by)
    hits = (o1 * o2 <= 0) & (o3 * o4 <= 0)
    return hits.any(axis=1)
