"""The ``cuml`` backend: a thin adapter over RAPIDS cuML's KMeans, silhouette_score and TSNE.

Written from cuML's documentation; no machine coc has run on so far had cuML, so its parity
tests skip with their reason everywhere they have run.
"""
from __future__ import annotations

import inspect

from coc.backends.native import CupyBackend
from coc.kernels.kmeans import KMeansResult


class CumlBackend(CupyBackend):
    """RAPIDS cuML's estimators on CuPy arrays."""

    name = "cuml"
    kmeans_algorithm = "scalable k-means++, Lloyd (cuML)"
    tsne_max_iter = 1000  # cuML TSNE's n_iter default
    tsne_methods = {"auto": "FFT interpolation (cuML)", "fft": "FFT interpolation (cuML)",
                    "barnes_hut": "Barnes-Hut (cuML)", "exact": "exact (cuML)"}
    reports_progress = False

    def _kmeans(self, X, n_clusters, *, seed, n_init, max_iter, tol):
        from cuml.cluster import KMeans

        km = KMeans(
            n_clusters=n_clusters, init="scalable-k-means++", n_init=n_init, max_iter=max_iter,
            tol=0.0 if tol is None else tol, random_state=seed, output_type="cupy",
        ).fit(X)
        return KMeansResult(
            self.xp.asarray(km.labels_), float(km.inertia_), int(getattr(km, "n_iter_", max_iter)),
            self.xp.asarray(km.cluster_centers_),
        )

    def _silhouette(self, X, labels, *, metric):
        from cuml.metrics.cluster import silhouette_score

        return silhouette_score(X, labels, metric=metric)

    def _tsne(self, X, *, perplexity, seed, max_iter, init, method, metric, progress, neighbors):
        from cuml.manifold import TSNE

        # cuML renamed n_iter to max_iter (as scikit-learn did); accept either release.
        iters = "max_iter" if "max_iter" in inspect.signature(TSNE).parameters else "n_iter"
        Y = TSNE(
            n_components=2, perplexity=perplexity, method="fft" if method == "auto" else method,
            init=init, metric=metric, random_state=seed, output_type="cupy", **{iters: max_iter},
        ).fit_transform(X)
        return self.xp.asarray(Y)
