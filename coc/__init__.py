"""coc: do these embeddings form clusters, or a continuum?

>>> import coc
>>> be = coc.get_backend("numpy")
>>> X, y = be.blobs(n_centers=10, n_per_center=100, dim=32, std=0.3, seed=0)
>>> labels, inertia = be.kmeans(X, n_clusters=10, seed=0)
>>> score = be.silhouette(X, labels)
>>> result = coc.analyze(be.to_numpy(X), n_null=2, k_max=12)
>>> result.verdict, result.n_clusters
('clustered', 10)

The parts, and which may import which
-------------------------------------
Each sub-package is one part; a part imports only the parts before it in this list, and
``tests/test_structure.py`` (``LAYERS``) fails on any other import, on a cycle, and on an
import of another part's private (underscored) module or name:

* ``utils``: validation (:class:`CocError`), the array namespace, the clock. Imports no part.
* ``kernels``: coc's array kernels, ``xp`` passed explicitly. Imports ``utils`` only, so a
  kernel runs the same under NumPy, CuPy and the strict test namespace.
* ``io``: reading embedding files, atomic writes, locks, checkpoints. Imports ``utils``.
* ``backends``: the registry and the engines behind one contract. Imports ``kernels``, ``utils``.
* ``testing``: the CuPy-faithful namespace and backend. Imports ``backends``, ``kernels``, ``utils``.
* ``suite`` (the benchmark suite) and ``verdict`` (``coc.analyze``, the notebook's experiment):
  each imports ``backends``, ``kernels``' public functions, ``io`` and ``utils``, and never
  the other, so either can change without the other noticing.
* ``cli``: one module per command; the only user of argparse. Imports any part; nothing
  imports it (``coc/__main__.py`` calls it).
"""
from coc.backends import Backend, available_backends, backend_names, get_backend
from coc.utils.validation import CocError
from coc.verdict import Analysis, analyze

__version__ = "0.2.0"
__all__ = ["Analysis", "Backend", "CocError", "analyze", "available_backends", "backend_names", "get_backend",
           "__version__"]
