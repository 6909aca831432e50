"""Peer backends (opentsne, faiss) at small sizes against scikit-learn; skipped where not installed."""
import numpy as np
import pytest
from sklearn.manifold import TSNE, trustworthiness
from sklearn.metrics import adjusted_rand_score

import coc
from coc.cli import main
from coc.suite.cells import Cell
from coc.suite.profiles import get_profile, skip_reason
from tests.conftest import backend_or_skip


@pytest.fixture(scope="module")
def blobs():
    g = np.random.default_rng(7)
    centers = g.random((4, 8)) * 4
    X = np.repeat(centers, 60, axis=0) + 0.05 * g.standard_normal((240, 8))
    return X.astype(np.float32), np.repeat(np.arange(4), 60)


def test_faiss_kmeans_recovers_separated_blobs(blobs):
    be = backend_or_skip("faiss")
    X, y = blobs
    res = be.kmeans_result(X, 4, seed=0, n_init=3, max_iter=20, tol=None)
    labels = be.to_numpy(res.labels)
    assert adjusted_rand_score(y, labels) == 1.0
    centers = np.stack([X[labels == j].mean(0) for j in range(4)])
    assert res.inertia == pytest.approx(((X - centers[labels]) ** 2).sum(), rel=1e-3)
    assert "faiss" in be.algorithm("kmeans")
    with pytest.raises(coc.CocError, match="tol=None"):
        be.kmeans(X, 4, tol=1e-4)


def test_opentsne_keeps_neighbourhoods_like_sklearn(blobs):
    be = backend_or_skip("opentsne")
    X, _ = blobs
    Y = be.to_numpy(be.tsne(X, perplexity=20, seed=0, max_iter=500))
    assert Y.shape == (240, 2) and np.isfinite(Y).all()
    ref = TSNE(perplexity=20, init="pca", random_state=0, max_iter=500).fit_transform(X)
    assert trustworthiness(X, Y, n_neighbors=10) >= trustworthiness(X, ref, n_neighbors=10) - 0.02
    assert "openTSNE" in be.algorithm("tsne")


@pytest.mark.parametrize("name, op", [("faiss", "tsne"), ("faiss", "silhouette"), ("faiss", "generate"),
                                      ("opentsne", "kmeans"), ("opentsne", "generate")])
def test_ops_a_peer_lacks_are_skipped_with_the_reason(name, op):
    reason = skip_reason(Cell(name, op, 100, 4), get_profile("smoke"))
    assert reason and f"has no {op}" in reason
    if op != "generate" and coc.available_backends()[name] is None:
        be = coc.get_backend(name)
        X = np.random.default_rng(0).random((100, 4))
        call = {"tsne": lambda: be.tsne(X), "kmeans": lambda: be.kmeans(X, 2, tol=None),
                "silhouette": lambda: be.silhouette(X, np.arange(100) % 2)}[op]
        with pytest.raises(coc.CocError, match=f"has no {op}"):
            call()


def test_peers_are_listed_with_their_status(capsys):
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    status = coc.available_backends()
    for name in ("opentsne", "faiss"):
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert ("available" in line) if status[name] is None else ("pip install 'coc[peers]'" in line)


@pytest.mark.parametrize("name", ["faiss", "opentsne"])
@pytest.mark.parametrize("command", [["analyze", "{x}"], ["analyze", "{x}", "--plot", "{out}/p.png"],
                                     ["experiment", "--out", "{out}"], ["phase", "--out", "{out}"]])
def test_commands_refuse_a_peer_before_any_work(tmp_path, capsys, name, command):
    # a peer has some ops only: the commands that need the others say so up front (faiss
    # used to fail at its KMeans, asking for a tol=None that no option can give)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((50, 3)))
    argv = [a.format(x=tmp_path / "x.npy", out=tmp_path / "out") for a in command]
    assert main([*argv, "--backend", name, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"coc: error: backend {name!r} cannot run this:") and err.count("\n") == 1, err
    assert "it is a peer for coc sweep" in err and not (tmp_path / "out").exists()
    with pytest.raises(coc.CocError, match="cannot run this"):
        coc.analyze(np.random.default_rng(0).random((50, 3)), backend=name)


def test_get_backend_refuses_an_op_it_does_not_know():
    # a misspelt op would otherwise pass the peer check silently and fail late
    with pytest.raises(ValueError, match="no op 'kmean'"):
        coc.get_backend("faiss", ops=("kmean",))
    with pytest.raises(ValueError, match="no op 1"):
        coc.get_backend("sklearn", ops=["nope", 1][1:])
    # an iterator is read once, for both checks; a bare string is one op
    with pytest.raises(coc.CocError, match="cannot run this"):
        coc.get_backend("faiss", ops=(op for op in ["tsne"]))
    with pytest.raises(coc.CocError, match="cannot run this"):
        coc.get_backend("faiss", ops="tsne")
    assert coc.get_backend("sklearn", ops=("generate", "kmeans", "silhouette", "tsne")).name == "sklearn"
