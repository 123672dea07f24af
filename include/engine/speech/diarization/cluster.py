"""Ward agglomerative clustering to a fixed k, then a k-means polish (numpy; no scipy).

Automatic speaker counting was unreliable in our measurements, so k is configured.
Ward on L2-normalized GE2E embeddings: merge the pair of clusters whose union increases
the within-cluster variance least (Lance-Williams update on squared distances). This is
O(n^2) per merge; above `MAX_WARD_POINTS` windows we cluster an even subsample and let
the k-means step assign every window.
"""

from __future__ import annotations

import numpy as np

MAX_WARD_POINTS = 800  # ~10 min of speech at a 0.75 s hop; keeps Ward well under 1 s
KMEANS_ITERATIONS = 10


def ward_labels(points: np.ndarray, k: int) -> np.ndarray:
    """Labels 0..k-1 from Ward linkage cut at k clusters (numbering is arbitrary)."""
    x = np.asarray(points, dtype=np.float64)
    n = x.shape[0]
    if k <= 1 or n <= 1:
        return np.zeros(n, dtype=np.int64)
    if n <= k:
        return np.arange(n, dtype=np.int64)
    sq = np.sum(x * x, axis=1)
    dist = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    np.fill_diagonal(dist, np.inf)
    size = np.ones(n)
    alive = np.ones(n, dtype=bool)
    members = np.arange(n)  # members[p] = representative cluster of point p
    for _ in range(n - k):
        flat = int(np.argmin(dist))
        i, j = divmod(flat, n)
        if i > j:
            i, j = j, i
        ni, nj = size[i], size[j]
        nk = size
        # Lance-Williams for Ward: distance from every k to the union i+j.
        new = ((ni + nk) * dist[i] + (nj + nk) * dist[j] - nk * dist[i, j]) / (ni + nj + nk)
        new[~alive] = np.inf
        new[i] = np.inf
        dist[i, :] = new
        dist[:, i] = new
        dist[j, :] = np.inf
        dist[:, j] = np.inf
        size[i] = ni + nj
        alive[j] = False
        members[members == j] = i
    _, labels = np.unique(members, return_inverse=True)
    return labels.astype(np.int64)


def kmeans_refine(points: np.ndarray, labels: np.ndarray, k: int,
                  iterations: int = KMEANS_ITERATIONS) -> np.ndarray:
    """Lloyd iterations from the given labels, with cosine similarity to centroids.

    Ward's cut is greedy; a few k-means steps let single windows that were merged early
    into the wrong tree branch move to the closer speaker.
    """
    x = np.asarray(points, dtype=np.float64)
    labels = labels.copy()
    for _ in range(iterations):
        centroids = np.zeros((k, x.shape[1]))
        for c in range(k):
            if np.any(labels == c):
                centroids[c] = x[labels == c].mean(axis=0)
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        centroids = centroids / np.where(norms > 0, norms, 1.0)
        new = np.argmax(x @ centroids.T, axis=1)
        # Never let a cluster die: with a configured count, an empty speaker is a bug.
        if len(np.unique(new)) < min(k, len(x)) or np.array_equal(new, labels):
            break
        labels = new
    return labels


def cluster_embeddings(embeddings: np.ndarray, k: int) -> np.ndarray:
    """(n, d) unit embeddings -> n labels in 0..k-1 (arbitrary numbering)."""
    x = np.asarray(embeddings, dtype=np.float64)
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    k = max(1, min(k, n))
    if n > MAX_WARD_POINTS:
        # Even subsample across the call, so every part of it shapes the tree.
        pick = np.linspace(0, n - 1, MAX_WARD_POINTS).round().astype(np.int64)
        sub = ward_labels(x[pick], k)
        centroids = np.stack([x[pick][sub == c].mean(axis=0) for c in range(k)])
        labels = np.argmax(x @ centroids.T, axis=1)
    else:
        labels = ward_labels(x, k)
    return kmeans_refine(x, labels, k)
