"""MovieLens loaders: every official release, from a folder or downloaded by name into a cache.

Three file layouts cover every release: ML-100K (``u.data`` and friends), ``::``-separated
``.dat`` files (ML-1M, ML-10M) and CSV with a header (ML-20M, 25M, 32M, latest, latest-small).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from reelflow._errors import DataError
from reelflow.data._download import Archive, cache_root, fetch
from reelflow.data._ids import IdIndex
from reelflow.data._interactions import Interactions
from reelflow.data._splits import Split

BASE_URL = "https://files.grouplens.org/datasets/movielens/"

# Zip SHA-256 and sizes as recorded by TensorFlow Datasets (url_checksums/movielens.txt);
# GroupLens itself publishes only MD5 files. ML-100K members: sha256 of the official files.
ARCHIVES: dict[str, Archive] = {
    "ml-100k": Archive(
        "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        4_924_029,
        {
            "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
            "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
        },
    ),
    "ml-1m": Archive("a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20", 5_917_549),
    "ml-10m": Archive(),
    "ml-20m": Archive(
        "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3", 198_702_078
    ),
    "ml-25m": Archive(
        "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa", 261_978_986
    ),
    "ml-32m": Archive(),
    "ml-latest-small": Archive(
        "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436", 978_202
    ),
}
FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
_RATINGS = {"u.data": "ml-100k", "ratings.dat": "dat", "ratings.csv": "csv"}
_DTYPES = {"user_id": np.int32, "item_id": np.int32, "rating": np.float32, "timestamp": np.int64}
_GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, eq=False)
class MovieLens:
    """A loaded MovieLens release: ratings with timestamps, the movie catalogue and, for ML-100K
    and ML-1M, the users' demographics."""

    path: Path
    format: str
    interactions: Interactions
    items: pd.DataFrame
    users: pd.DataFrame | None = None

    def __repr__(self) -> str:
        return f"<MovieLens {self.path.name} ({self.format}): {self.interactions!r}>"


def load_movielens(
    name_or_path: PathLike, *, cache_dir: PathLike | None = None, download: bool = True
) -> MovieLens:
    """Load a MovieLens release from a folder (format detected from its files) or by name
    (``"ml-100k"``, ``"ml-1m"``, ...), downloading it into the cache on first use."""
    folder, layout = _locate(_resolve(name_or_path, cache_dir, download))
    ratings, items, users = _READERS[layout](folder)
    return MovieLens(folder, layout, _interactions(ratings, folder), items, users)


def load_movielens_fold(
    name_or_path: PathLike,
    fold: str,
    *,
    cache_dir: PathLike | None = None,
    download: bool = True,
) -> Split:
    """One of ML-100K's official splits (``u1``..``u5``, ``ua``, ``ub``) as train and test on the
    id indices of the whole ``u.data``, so both line up with :func:`load_movielens`."""
    if fold not in FOLDS:
        raise DataError(f"unknown fold '{fold}'; ML-100K has folds {', '.join(FOLDS)}")
    folder, layout = _locate(_resolve(name_or_path, cache_dir, download))
    if layout != "ml-100k":
        raise DataError(f"{folder} is not ML-100K; only ML-100K ships official folds")
    full = _read_ratings(folder / "u.data")
    users, _ = IdIndex.encode(full["user_id"])
    items, _ = IdIndex.encode(full["item_id"])
    parts = []
    for suffix in ("base", "test"):
        path = folder / f"{fold}.{suffix}"
        if not path.is_file():
            raise DataError(f"{path} is missing; use a complete ml-100k folder")
        parts.append(_on_index(_read_ratings(path), users, items))
    return Split(parts[0], parts[1])


# --- finding the files -----------------------------------------------------------------------


def _resolve(name_or_path: PathLike, cache_dir: PathLike | None, download: bool) -> Path:
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    if name in ARCHIVES:
        url = f"{BASE_URL}{name}.zip"
        return fetch(name, url, ARCHIVES[name], cache_root(cache_dir), download=download)
    raise DataError(
        f"'{name}' is neither a folder nor a MovieLens name; pass an extracted folder or one "
        f"of {', '.join(ARCHIVES)}"
    )


def _layout(folder: Path) -> str | None:
    return next((fmt for file, fmt in _RATINGS.items() if (folder / file).is_file()), None)


def _locate(folder: Path) -> tuple[Path, str]:
    """The folder holding the ratings (``folder`` itself or its one matching subfolder)."""
    layout = _layout(folder)
    if layout is not None:
        return folder, layout
    found = [
        (sub, fmt)
        for sub in sorted(folder.iterdir())
        if sub.is_dir() and (fmt := _layout(sub)) is not None
    ]
    if len(found) == 1:
        return found[0]
    raise DataError(
        f"{folder} holds no MovieLens ratings (u.data, ratings.dat or ratings.csv); pass the "
        "folder extracted from a MovieLens zip"
    )


# --- ratings ---------------------------------------------------------------------------------


def _read_ratings(path: Path) -> pd.DataFrame:
    """ML-100K's tab-separated ``user item rating timestamp`` (``u.data`` and the folds)."""
    return pd.read_csv(path, sep="\t", header=None, names=list(_DTYPES), dtype=_DTYPES)


def _read_dat_ratings(path: Path) -> pd.DataFrame:
    # '::' needs pandas' slow python engine; splitting on ':' with the C engine leaves empty
    # columns between the fields, which usecols skips.
    names = ["user_id", "_1", "item_id", "_2", "rating", "_3", "timestamp"]
    return pd.read_csv(
        path, sep=":", header=None, names=names, usecols=list(_DTYPES), dtype=_DTYPES
    )[list(_DTYPES)]


def _read_csv_ratings(folder: Path) -> pd.DataFrame:
    columns = {"userId": "user_id", "movieId": "item_id", "rating": "rating"}
    columns["timestamp"] = "timestamp"
    frame = pd.read_csv(
        folder / "ratings.csv",
        usecols=list(columns),
        dtype={old: _DTYPES[new] for old, new in columns.items()},
    )
    return frame.rename(columns=columns)[list(_DTYPES)]


def _interactions(ratings: pd.DataFrame, folder: Path) -> Interactions:
    if ratings.empty:
        raise DataError(f"{folder} holds no ratings; pass a complete MovieLens folder")
    return Interactions.from_pandas(ratings, rating="rating", timestamp="timestamp")


def _on_index(ratings: pd.DataFrame, users: IdIndex, items: IdIndex) -> Interactions:
    return Interactions(
        users,
        items,
        users.indices(ratings["user_id"].to_numpy()).astype(np.int32),
        items.indices(ratings["item_id"].to_numpy()).astype(np.int32),
        rating=ratings["rating"].to_numpy(),
        timestamp=ratings["timestamp"].to_numpy(),
    )


# --- one reader per layout: (ratings, items, users) ---------------------------------------------

Tables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]


def _read_100k(folder: Path) -> Tables:
    return _read_ratings(folder / "u.data"), _items_100k(folder), _users_100k(folder / "u.user")


def _read_dat(folder: Path) -> Tables:
    users = _users_dat(folder / "users.dat") if (folder / "users.dat").is_file() else None
    return _read_dat_ratings(folder / "ratings.dat"), _items_dat(folder), users


def _read_csv(folder: Path) -> Tables:
    return _read_csv_ratings(folder), _items_csv(folder), None


_READERS = {"ml-100k": _read_100k, "dat": _read_dat, "csv": _read_csv}


# --- items and users -------------------------------------------------------------------------


def _catalogue(
    ids: pd.Series, titles: pd.Series, genres: list[list[str]], years: pd.Series | None = None
) -> pd.DataFrame:
    """The catalogue sorted by id; ``year`` from the title's "(1995)", else from ``years``."""
    titles = titles.astype(str).str.strip()
    year = pd.to_numeric(titles.str.extract(r"\((\d{4})\)$")[0], errors="coerce")
    if years is not None:
        year = year.fillna(years)
    frame = pd.DataFrame(
        {
            "item_id": ids.to_numpy(np.int64),
            "title": titles.to_numpy(),
            "genres": genres,
            "year": pd.array(year.to_numpy(), dtype="Int64"),
        }
    )
    return frame.sort_values("item_id", ignore_index=True)


def _split_genres(joined: pd.Series) -> list[list[str]]:
    return [[] if g in ("(no genres listed)", "") else g.split("|") for g in joined.astype(str)]


def _items_100k(folder: Path) -> pd.DataFrame:
    raw = pd.read_csv(folder / "u.item", sep="|", header=None, encoding="latin-1")
    flags = raw.iloc[:, 5:].to_numpy(dtype=bool)
    genres = [[_GENRES_100K[j] for j in np.flatnonzero(row)] for row in flags]
    released = pd.to_datetime(raw[2], format="%d-%b-%Y", errors="coerce")
    return _catalogue(raw[0], raw[1], genres, released.dt.year)


def _items_dat(folder: Path) -> pd.DataFrame:
    raw = (folder / "movies.dat").read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # ML-1M's movies.dat is latin-1
        text = raw.decode("latin-1")
    rows = [line.split("::", 2) for line in text.splitlines() if line.strip()]
    frame = pd.DataFrame(rows, columns=["item_id", "title", "genres"])
    return _catalogue(
        frame["item_id"].astype(np.int64), frame["title"], _split_genres(frame["genres"])
    )


def _items_csv(folder: Path) -> pd.DataFrame:
    raw = pd.read_csv(folder / "movies.csv", dtype={"movieId": np.int64}, keep_default_na=False)
    return _catalogue(raw["movieId"], raw["title"], _split_genres(raw["genres"]))


def _users_100k(path: Path) -> pd.DataFrame:
    names = ["user_id", "age", "gender", "occupation", "zip_code"]
    dtypes = {"user_id": np.int64, "age": np.int64, "zip_code": str}
    return pd.read_csv(path, sep="|", header=None, names=names, dtype=dtypes, encoding="latin-1")


def _users_dat(path: Path) -> pd.DataFrame:
    names = ["user_id", "_1", "gender", "_2", "age", "_3", "occupation", "_4", "zip_code"]
    dtypes = {"user_id": np.int64, "age": np.int64, "occupation": np.int64, "zip_code": str}
    keep = ["user_id", "gender", "age", "occupation", "zip_code"]
    return pd.read_csv(path, sep=":", header=None, names=names, usecols=keep, dtype=dtypes)[keep]
