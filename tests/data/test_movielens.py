"""MovieLens loaders: every file layout, the official ML-100K folds, and the download cache.

Real-data tests read ../shared/data and skip when it is absent; downloads are served by a local
HTTP server from a tiny zip built here (no network).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from reelflow._errors import DataError
from reelflow.data import _movielens
from reelflow.data._download import Archive, cache_root
from reelflow.data._movielens import load_movielens, load_movielens_fold

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ML_100K = DATA / "movielens-100k" / "ml-100k"
ML_SMALL = DATA / "movielens-latest-small" / "ml-latest-small"


def _needs(folder: Path) -> None:
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing (real MovieLens data lives in ../shared/data)")


# --- real data -----------------------------------------------------------------------------------


def test_ml_100k_counts_items_and_users() -> None:
    _needs(ML_100K)
    movielens = load_movielens(ML_100K)
    data = movielens.interactions
    assert (len(data), data.n_users, data.n_items) == (100_000, 943, 1_682)
    assert data.rating is not None and set(np.unique(data.rating).tolist()) == {1, 2, 3, 4, 5}
    assert data.timestamp is not None and data.timestamp.min() == 874_724_710
    toy_story = movielens.items.iloc[0]
    assert toy_story["title"] == "Toy Story (1995)" and toy_story["year"] == 1995
    assert toy_story["genres"] == ["Animation", "Children's", "Comedy"]
    assert movielens.users is not None and len(movielens.users) == 943
    assert movielens.users.iloc[0].tolist() == [1, 24, "M", "technician", "85711"]


def test_a_parent_folder_is_searched_one_level_down() -> None:
    _needs(ML_100K)
    assert load_movielens(ML_100K.parent).path == ML_100K


def test_ml_100k_official_fold_lines_up_with_the_full_data() -> None:
    _needs(ML_100K)
    train, test = load_movielens_fold(ML_100K, "u1")
    assert (len(train), len(test)) == (80_000, 20_000)
    full = load_movielens(ML_100K).interactions
    assert train.users == full.users == test.users and train.items == full.items
    assert (train.csr() + test.csr() != full.csr()).nnz == 0
    ua_train, ua_test = load_movielens_fold(ML_100K, "ua")
    assert (len(ua_train), len(ua_test)) == (90_570, 9_430)


def test_unknown_fold_and_folds_of_other_releases_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown fold"):
        load_movielens_fold(tmp_path, "u9")
    _write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n1,2,3.0,4\n")
    with pytest.raises(DataError, match="only ML-100K"):
        load_movielens_fold(tmp_path, "u1")


def test_latest_small_counts_and_catalogue() -> None:
    _needs(ML_SMALL)
    movielens = load_movielens(ML_SMALL)
    data = movielens.interactions
    assert (len(data), data.n_users) == (100_836, 610)
    assert data.n_items == 9_724  # rated movies; the catalogue holds every movie
    assert len(movielens.items) == 9_742 and movielens.users is None
    assert data.rating is not None and data.rating.min() == 0.5
    genres = {g for row in movielens.items["genres"] for g in row}
    assert "Comedy" in genres and not any(g.endswith("\r") for g in genres)
    assert "(no genres listed)" not in genres


# --- the other layouts, from tiny folders --------------------------------------------------------


def _write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode(encoding))


def test_ml_1m_layout_with_latin1_titles_and_users(tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m"
    _write(folder, "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::9\n")
    movies = (
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::Métisse (1993)::Comedy|Drama\n"
    )
    _write(folder, "movies.dat", movies, encoding="latin-1")
    _write(folder, "users.dat", "1::F::1::10::48067\n2::M::56::16::70072-1234\n")
    movielens = load_movielens(tmp_path)
    data = movielens.interactions
    assert (len(data), data.n_users, data.n_items, movielens.format) == (3, 2, 2, "dat")
    assert data.users.ids.tolist() == [1, 2] and data.items.ids.tolist() == [661, 1193]
    assert movielens.items["title"].tolist()[0] == "Métisse (1993)"
    assert movielens.items["genres"].tolist()[0] == ["Comedy", "Drama"]
    assert movielens.users is not None
    assert movielens.users["zip_code"].tolist() == ["48067", "70072-1234"]
    assert movielens.users["age"].tolist() == [1, 56]


def test_ml_10m_layout_without_users(tmp_path: Path) -> None:
    folder = tmp_path / "ml-10M100K"
    _write(folder, "ratings.dat", "1::122::5::838985046\n1::185::4.5::838983525\n")
    _write(folder, "movies.dat", "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::X\n")
    movielens = load_movielens(folder)
    assert movielens.users is None
    assert movielens.interactions.rating is not None
    assert movielens.interactions.rating.tolist() == [5.0, 4.5]
    assert movielens.items["year"].tolist() == [1992, 1995]


def test_csv_layout_with_crlf_quotes_and_no_year(tmp_path: Path) -> None:
    ratings = "userId,movieId,rating,timestamp\r\n7,1,4.0,964982703\r\n7,3,0.5,964981247\r\n"
    movies = (
        "movieId,title,genres\r\n1,Toy Story (1995),Adventure|Animation\r\n"
        '3,"American President, The (1995)",(no genres listed)\r\n4,Untitled,Drama\r\n'
    )
    _write(tmp_path, "ratings.csv", ratings)
    _write(tmp_path, "movies.csv", movies)
    movielens = load_movielens(tmp_path)
    data = movielens.interactions
    assert data.timestamp is not None and data.timestamp.tolist() == [964982703, 964981247]
    items = movielens.items
    assert items["title"].tolist()[1] == "American President, The (1995)"
    assert items["genres"].tolist() == [["Adventure", "Animation"], [], ["Drama"]]
    assert items["year"].isna().tolist() == [False, False, True]


def test_folders_without_ratings_and_unknown_names_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="holds no MovieLens ratings"):
        load_movielens(tmp_path)
    with pytest.raises(DataError, match="neither a folder nor a MovieLens name"):
        load_movielens("ml-7k")


def test_empty_ratings_are_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n")
    _write(tmp_path, "movies.csv", "movieId,title,genres\n")
    with pytest.raises(DataError, match="holds no ratings"):
        load_movielens(tmp_path)


# --- downloads into the cache --------------------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A local HTTP server for the folder it yields, standing in for files.grouplens.org."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_Quiet, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setattr(_movielens, "BASE_URL", f"http://127.0.0.1:{httpd.server_address[1]}/")
    yield served
    httpd.shutdown()
    httpd.server_close()
    thread.join()


U_DATA = "1\t10\t4\t881250949\n2\t10\t3\t891717742\n2\t20\t5\t878887116\n"


def _zip(served: Path, name: str = "ml-100k", u_data: str = U_DATA) -> bytes:
    path = served / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr(f"{name}/u.data", u_data)
        zipped.writestr(f"{name}/u.item", "10|A (1990)|01-Jan-1990||url|1" + "|0" * 18 + "\n")
        zipped.writestr(f"{name}/u.user", "1|20|F|writer|12345\n2|30|M|other|54321\n")
    return path.read_bytes()


def _archive(payload: bytes, **changes: object) -> Archive:
    known = {
        "sha256": hashlib.sha256(payload).hexdigest(),
        "size": len(payload),
        "members": {"u.data": hashlib.sha256(U_DATA.encode()).hexdigest()},
    }
    known.update(changes)
    return Archive(**known)


def test_download_checks_extracts_and_caches(
    server: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = _zip(server)
    monkeypatch.setitem(_movielens.ARCHIVES, "ml-100k", _archive(payload))
    cache = tmp_path / "cache"
    movielens = load_movielens("ml-100k", cache_dir=cache)
    assert len(movielens.interactions) == 3 and movielens.path == cache / "ml-100k"
    assert sorted(p.name for p in cache.iterdir()) == ["ml-100k"]  # no zip or temp folder left
    (server / "ml-100k.zip").unlink()  # from now on only the cache can answer
    again = load_movielens("ml-100k", cache_dir=cache, download=False)
    assert again.interactions.fingerprint == movielens.interactions.fingerprint


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sha256": "0" * 64}, "SHA-256"),
        ({"size": 12}, "bytes but 12 were expected"),
        ({"members": {"u.data": "0" * 64}}, "differs from the official file"),
        ({"members": {"u.genre": "0" * 64}}, "is missing"),
    ],
)
def test_a_bad_download_is_an_error_and_leaves_nothing(
    server: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, object],
    message: str,
) -> None:
    monkeypatch.setitem(_movielens.ARCHIVES, "ml-100k", _archive(_zip(server), **changes))
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=message):
        load_movielens("ml-100k", cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_without_a_pinned_checksum_the_published_md5_is_checked(
    server: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = _zip(server, "ml-10m")
    (server / "ml-10m.zip.md5").write_text(f"{hashlib.md5(payload).hexdigest()}  ml-10m.zip\n")
    monkeypatch.setitem(_movielens.ARCHIVES, "ml-10m", Archive())
    movielens = load_movielens("ml-10m", cache_dir=tmp_path / "cache")
    assert movielens.path == tmp_path / "cache" / "ml-10m"

    monkeypatch.setitem(_movielens.ARCHIVES, "ml-32m", Archive())
    _zip(server, "ml-32m")
    with pytest.raises(DataError, match=r"ml-32m.zip.md5 could not be read"):
        load_movielens("ml-32m", cache_dir=tmp_path / "cache")
    (server / "ml-32m.zip.md5").write_text("0" * 32)
    with pytest.raises(DataError, match="not the 0000"):
        load_movielens("ml-32m", cache_dir=tmp_path / "cache")
    (server / "ml-32m.zip").write_bytes(b"")
    (server / "ml-32m.zip.md5").write_text(hashlib.md5(b"").hexdigest())
    with pytest.raises(DataError, match="downloaded empty"):
        load_movielens("ml-32m", cache_dir=tmp_path / "cache")
    (server / "ml-32m.zip").write_bytes(b"not a zip")
    (server / "ml-32m.zip.md5").write_text(hashlib.md5(b"not a zip").hexdigest())
    with pytest.raises(DataError, match="not a valid zip"):
        load_movielens("ml-32m", cache_dir=tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["ml-10m"]


def test_unreachable_server_is_an_error(server: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="could not download"):
        load_movielens("ml-1m", cache_dir=tmp_path / "cache")  # the server has no such file
    assert list((tmp_path / "cache").iterdir()) == []


def test_no_download_without_a_cached_copy(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not in the cache"):
        load_movielens("ml-25m", cache_dir=tmp_path, download=False)


def test_cache_location_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELFLOW_DATA_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("REELFLOW_DATA_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_root() == tmp_path / ".cache" / "reelflow" / "datasets"


def test_folds_load_from_a_downloaded_copy(
    server: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _zip(server)
    with zipfile.ZipFile(server / "ml-100k.zip", "a") as zipped:
        zipped.writestr("ml-100k/u1.base", U_DATA.splitlines(keepends=True)[0])
        zipped.writestr("ml-100k/u1.test", "".join(U_DATA.splitlines(keepends=True)[1:]))
    payload = (server / "ml-100k.zip").read_bytes()
    monkeypatch.setitem(_movielens.ARCHIVES, "ml-100k", _archive(payload))
    train, test = load_movielens_fold("ml-100k", "u1", cache_dir=tmp_path / "cache")
    assert (len(train), len(test), train.n_items, test.n_users) == (1, 2, 2, 2)
    with pytest.raises(DataError, match=r"u2\.base is missing"):
        load_movielens_fold("ml-100k", "u2", cache_dir=tmp_path / "cache")
