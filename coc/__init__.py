"""coc: do these embeddings form clusters, or a continuum?

>>> import coc
>>> be = coc.get_backend("numpy")
>>> X, y = be.blobs(n_centers=10, n_per_center=100, dim=32, std=0.3, seed=0)
>>> labels, inertia = be.kmeans(X, n_clusters=10, seed=0)
>>> score = be.silhouette(X, labels)
>>> result = coc.analyze(be.to_numpy(X), n_null=2, k_max=12)
>>> result.verdict, result.n_clusters
('clustered', 10)
"""
from coc.backends import Backend, available_backends, backend_names, get_backend
from coc.validation import CocError
from coc.verdict import Analysis, analyze

__version__ = "0.1.0"
__all__ = ["Analysis", "Backend", "CocError", "analyze", "available_backends", "backend_names", "get_backend",
           "__version__"]
