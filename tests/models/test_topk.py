"""``top_k_sparse`` gives exactly what ``top_k`` gives on the dense scores, ties included.

Two references: ``top_k`` itself on the densified, masked block (today's path, whose ties follow
``argpartition``), compared position for position; and a plain ``np.argsort`` ranking, which
fixes the scores of every slot and checks the positions are a valid top k of those scores.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from conformance import structured_log  # noqa: E402

import reelflow.models._topk as topk_module  # noqa: E402
from reelflow.models._knn import ItemKNN  # noqa: E402
from reelflow.models._topk import mask_seen, top_k, top_k_sparse  # noqa: E402


def _dense(
    scores: sp.csr_matrix, exclude: sp.csr_matrix | None, columns: np.ndarray | None
) -> np.ndarray:
    """The dense path: float32 scores, excluded entries -inf, then the column subset."""
    dense = np.asarray(scores.toarray(), dtype=np.float32)
    if exclude is not None:
        mask_seen(dense, exclude, np.arange(dense.shape[0]))
    return dense if columns is None else dense[:, columns]


def _argsort_reference(dense: np.ndarray, k: int) -> np.ndarray:
    """Each row's k best scores, best first, ``-inf`` padded: a full stable sort, no selection."""
    order = np.argsort(-dense, axis=1, kind="stable")[:, :k]
    values = np.full((dense.shape[0], k), -np.inf, dtype=np.float32)
    values[:, : order.shape[1]] = np.take_along_axis(dense, order, axis=1)
    return values


def _check(
    scores: sp.csr_matrix,
    k: int,
    exclude: sp.csr_matrix | None = None,
    columns: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    positions, best = top_k_sparse(scores, k, exclude=exclude, columns=columns)
    dense = _dense(scores, exclude, columns)
    old_positions, old_best = top_k(dense, k)
    np.testing.assert_array_equal(positions, old_positions)
    np.testing.assert_array_equal(best, old_best)
    # the argsort reference fixes every slot's score; the positions must carry those scores
    np.testing.assert_array_equal(best, _argsort_reference(dense, k))
    valid = best > -np.inf
    assert (positions[~valid] == -1).all()
    rows = np.nonzero(valid)[0]
    np.testing.assert_array_equal(dense[rows, positions[valid]], best[valid])
    for row, row_valid in zip(positions, valid, strict=True):
        assert len(set(row[row_valid].tolist())) == row_valid.sum()
    return positions, best


def _random_block(
    rng: np.random.Generator,
    n_rows: int,
    n_cols: int,
    *,
    density: float,
    levels: int | None,
    negative: bool = False,
) -> sp.csr_matrix:
    """Random sparse scores; ``levels`` draws them from that many values, so ties abound."""
    block = sp.random(n_rows, n_cols, density=density, format="csr", random_state=rng)
    if levels is not None:
        block.data = np.ceil(block.data * levels) / levels
    if negative:
        block.data -= 0.3
    block.data = block.data.astype(np.float32)
    sparse_rows = rng.choice(n_rows, size=n_rows // 4, replace=False)
    lil = block.tolil()
    for row in sparse_rows[: len(sparse_rows) // 2]:
        lil.rows[row], lil.data[row] = [], []  # all-zero rows
    for row in sparse_rows[len(sparse_rows) // 2 :]:
        keep = int(rng.integers(1, 6))  # fewer than k nonzeros
        lil.rows[row], lil.data[row] = lil.rows[row][:keep], lil.data[row][:keep]
    return sp.csr_matrix(lil, dtype=np.float32)


def _exclusions(rng: np.random.Generator, scores: sp.csr_matrix, share: float) -> sp.csr_matrix:
    """Excluded cells: some stored (often among the best), some not stored."""
    n_rows, n_cols = scores.shape
    stored = sp.random(n_rows, n_cols, density=share, format="csr", random_state=rng)
    best = scores.copy()
    best.data = (best.data > np.quantile(best.data, 0.8)).astype(np.float32)
    both = ((stored > 0).astype(np.float32) + best.multiply(rng.random(best.shape) < 0.5)) > 0
    return sp.csr_matrix(both, dtype=np.float32)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("levels", [None, 3, 20])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_matches_the_dense_path_with_ties_zeros_and_exclusions(
    seed: int, levels: int | None, k: int
) -> None:
    rng = np.random.default_rng(seed)
    scores = _random_block(rng, 60, 80, density=0.3, levels=levels, negative=seed % 3 == 2)
    _check(scores, k)
    exclude = _exclusions(rng, scores, 0.1)
    _check(scores, k, exclude)
    columns = np.sort(rng.choice(80, size=50, replace=False))
    _check(scores, k, exclude, columns)
    _check(scores, k, None, columns)


@pytest.mark.parametrize("k", [79, 80, 81, 200])
def test_k_near_or_beyond_the_catalogue_pads(k: int) -> None:
    rng = np.random.default_rng(1)
    scores = _random_block(rng, 30, 80, density=0.9, levels=None)
    positions, best = _check(scores, k, _exclusions(rng, scores, 0.05))
    if k > 80:
        assert (best[:, 80:] == -np.inf).all() and (positions[:, 80:] == -1).all()


def test_all_excluded_and_empty_blocks() -> None:
    scores = sp.csr_matrix(np.array([[0.5, 0.25, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32))
    everything = sp.csr_matrix(np.ones((2, 3), dtype=np.float32))
    positions, best = _check(scores, 2, everything)
    assert (positions == -1).all() and (best == -np.inf).all()
    empty = sp.csr_matrix((0, 3), dtype=np.float32)
    positions, best = _check(empty, 2, sp.csr_matrix((0, 3), dtype=np.float32))
    assert positions.shape == best.shape == (0, 2)


def test_explicit_zeros_and_non_finite_scores() -> None:
    dense = np.array(
        [
            [3.0, 0.0, 2.0, 1.0, 0.5, 0.25],  # explicit 0 stored below
            [np.inf, 1.0, 2.0, 3.0, 4.0, 5.0],
            [np.nan, 1.0, 2.0, 3.0, 4.0, 5.0],
            [-np.inf, 1.0, 2.0, 3.0, 4.0, 5.0],
            [6.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        ],
        dtype=np.float32,
    )
    rows, cols = np.nonzero(dense)
    rows, cols = np.append(rows, 0), np.append(cols, 1)  # row 0's zero at column 1 is stored
    scores = sp.csr_matrix((dense[rows, cols], (rows, cols)), shape=dense.shape)
    assert scores.nnz == np.count_nonzero(dense) + 1
    for k in (1, 3, 6):
        positions, best = top_k_sparse(scores, k)
        old_positions, old_best = top_k(np.asarray(scores.toarray(), dtype=np.float32), k)
        np.testing.assert_array_equal(positions, old_positions)
        np.testing.assert_array_equal(best, old_best)


def _count_dense_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows ``top_k_sparse`` hands to the dense ``top_k``, call by call."""
    calls: list[int] = []

    def counting(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        calls.append(scores.shape[0])
        return top_k(scores, k)

    monkeypatch.setattr(topk_module, "top_k", counting)
    return calls


def test_unambiguous_rows_never_densify(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    scores = sp.random(200, 500, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    scores.data += np.float32(0.01)  # positive, continuous: no ties
    exclude = _exclusions(rng, scores, 0.05)
    calls = _count_dense_rows(monkeypatch)
    _check(scores, 10, exclude)
    assert sum(calls) == 0
    lil = scores.tolil()
    lil.rows[3], lil.data[3] = [], []  # an all-zero row: its zeros tie, argpartition orders them
    scores = sp.csr_matrix(lil)
    _check(scores, 10, exclude)
    assert sum(calls) == 1


def test_rows_are_keyed_in_chunks_when_the_key_is_narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    # 3 spare key bits: 8 rows per sort, so a 50-row block takes several chunks
    monkeypatch.setattr(topk_module, "_KEY_BITS", topk_module._VALUE_BITS + 7 + 3)
    rng = np.random.default_rng(3)
    scores = _random_block(rng, 50, 100, density=0.4, levels=None)
    _check(scores, 5, _exclusions(rng, scores, 0.1))


def test_int64_indices() -> None:
    rng = np.random.default_rng(5)
    scores = _random_block(rng, 40, 60, density=0.5, levels=None)
    exclude = _exclusions(rng, scores, 0.1)
    for matrix in (scores, exclude):
        matrix.indices = matrix.indices.astype(np.int64)
        matrix.indptr = matrix.indptr.astype(np.int64)
    _check(scores, 4, exclude)


def _both_paths(model: ItemKNN, users: Any, **kwargs: Any) -> None:
    fast = model.recommend(users, **kwargs)
    model._sparse_scores = False  # type: ignore[misc]  # the dense path, as before
    try:
        dense = model.recommend(users, **kwargs)
    finally:
        del model._sparse_scores
    np.testing.assert_array_equal(fast.items, dense.items)
    np.testing.assert_array_equal(fast.scores, dense.scores)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": 10},
        {"k": 3, "batch_size": 7},
        {"k": 40, "exclude_seen": False},
        {"k": 150},
        {"k": 12, "items": "every third"},
    ],
)
def test_item_knn_recommends_the_same_on_both_paths(kwargs: dict[str, Any]) -> None:
    data = structured_log()
    model = ItemKNN(k=20, shrinkage=5.0).fit(data)
    assert ItemKNN._sparse_scores
    if kwargs.get("items") == "every third":
        kwargs = {**kwargs, "items": data.items.ids[::3]}
    _both_paths(model, data.users.ids, **kwargs)


def test_item_knn_unknown_users_take_the_dense_path() -> None:
    data = structured_log()
    model = ItemKNN(k=20, shrinkage=5.0).fit(data)
    users = [*data.users.ids[:5], -999]
    _both_paths(model, users, k=8, unknown_users="popular")
