"""The ``sklearn`` backend (alias ``cpu``): NumPy generation and scikit-learn's estimators."""
from __future__ import annotations

from coc.backends.base import Backend
from coc.kernels.kmeans import KMeansResult
from coc.utils.validation import CocError

#: scikit-learn's TSNE refuses fewer iterations.
SKLEARN_MIN_TSNE_ITER = 250


class SklearnBackend(Backend):
    """The CPU reference: NumPy generation and scikit-learn's estimators."""

    name = "sklearn"
    kmeans_algorithm = "k-means++, Lloyd (scikit-learn)"
    tsne_methods = {"auto": "Barnes-Hut (scikit-learn)", "barnes_hut": "Barnes-Hut (scikit-learn)",
                    "exact": "exact (scikit-learn)"}

    def _kmeans(self, X, n_clusters, *, seed, n_init, max_iter, tol):
        from sklearn.cluster import KMeans

        km = KMeans(
            n_clusters=n_clusters, init="k-means++", n_init=n_init, max_iter=max_iter,
            tol=0.0 if tol is None else tol, algorithm="lloyd", random_state=seed,
        ).fit(X)
        return KMeansResult(km.labels_, float(km.inertia_), int(km.n_iter_), km.cluster_centers_)

    def _silhouette(self, X, labels, *, metric):
        from sklearn.metrics import silhouette_score

        return silhouette_score(X, labels, metric=metric)

    def _tsne(self, X, *, perplexity, seed, max_iter, init, method, metric, progress, neighbors):
        from sklearn.manifold import TSNE

        if max_iter < SKLEARN_MIN_TSNE_ITER:
            raise CocError(f"backend 'sklearn' runs t-SNE for max_iter >= {SKLEARN_MIN_TSNE_ITER}, "
                           f"got {max_iter}")
        return TSNE(
            n_components=2, perplexity=perplexity, init=init, learning_rate="auto",
            max_iter=max_iter, random_state=seed, metric=metric,
            method="exact" if method == "exact" else "barnes_hut",
        ).fit_transform(X)
