"""``reelflow bench`` and ``reelflow leaderboard``: benchmark models, then list the results."""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reelflow._errors import ModelError, UsageError
from reelflow.cli._app import cli

if TYPE_CHECKING:
    from reelflow.bench._benchmark import BenchmarkResult
    from reelflow.data import Interactions, Split
    from reelflow.models import Recommender

MODELS = {
    "mostpop": "MostPopular",
    "random": "Random",
    "itemknn": "ItemKNN",
    "ease": "EASE",
    "als": "ALS",
    "bpr": "BPR",
}
SPLITS = "per_user:0.2, random:0.2, last:1, temporal:0.8 or loo"
DEFAULT_METRICS = "ndcg@10,recall@20,precision@10,map@10,mrr,coverage"


@cli.command()
@click.option(
    "--data",
    "data_spec",
    required=True,
    metavar="SOURCE",
    help="A CSV or Parquet file, a MovieLens folder or name (ml-100k), or synthetic:N "
    "(N generated interactions).",
)
@click.option("--user", default="user_id", show_default=True, help="User id column of a file.")
@click.option("--item", default="item_id", show_default=True, help="Item id column of a file.")
@click.option("--rating", default=None, help="Rating column of a file (none by default).")
@click.option("--timestamp", default=None, help="Timestamp column of a file (temporal splits).")
@click.option(
    "--models",
    default="mostpop,itemknn,ease",
    show_default=True,
    help=f"Comma-separated model names: {', '.join(MODELS)}.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="MODEL.NAME=VALUE",
    help="A model parameter, e.g. ease.l2=300 (repeatable).",
)
@click.option(
    "--split",
    "split_spec",
    default="per_user:0.2",
    show_default=True,
    help="per_user:F or random:F (F = test fraction), last:N, temporal:Q (quantile) or loo.",
)
@click.option("--metrics", default=DEFAULT_METRICS, show_default=True, help="Metrics to report.")
@click.option("--k", type=int, default=None, help="List length [default: largest metric cut-off].")
@click.option("--baseline", default=None, help="Model the p-values compare against.")
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the split, data, models and bootstrap.",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Bootstrap resamples and sign flips (0: no CIs or p-values).",
)
@click.option("--report", type=click.Path(dir_okay=False), help="Write a report (.html or .md).")
@click.option("--no-leaderboard", is_flag=True, help="Do not add the results to the leaderboard.")
@click.option("--tag", "tags", multiple=True, help="Tag the leaderboard entries (repeatable).")
def bench(
    data_spec: str,
    user: str,
    item: str,
    rating: str | None,
    timestamp: str | None,
    models: str,
    params: tuple[str, ...],
    split_spec: str,
    metrics: str,
    k: int | None,
    baseline: str | None,
    seed: int,
    bootstrap: int,
    report: str | None,
    no_leaderboard: bool,
    tags: tuple[str, ...],
) -> None:
    """Benchmark models on one data set and split: a table with 95% CIs and p-values."""
    from reelflow.bench._benchmark import benchmark

    built = build_models(models, params, seed)
    split = parse_split(split_spec, seed)
    columns = {"user": user, "item": item, "rating": rating, "timestamp": timestamp}
    data = load_data(data_spec, columns, seed)
    metric_names = [name.strip() for name in metrics.split(",") if name.strip()]
    result = benchmark(
        built, data, split, metric_names, k=k, baseline=baseline, n_bootstrap=bootstrap, seed=seed
    )
    _print_result(result)
    if report:
        _write_report(result, Path(report))
    if not no_leaderboard:
        ids = result.save(tags=tags)
        click.echo(f"added {len(ids)} entries to the leaderboard (reelflow leaderboard)")


@cli.command()
@click.option("--metric", default=None, help="Rank the entries of this metric (e.g. ndcg@10).")
@click.option("--data", "fingerprint", default=None, help="Only this data fingerprint (a prefix).")
@click.option("--split", default=None, help="Only this split description.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Rows.")
def leaderboard(metric: str | None, fingerprint: str | None, split: str | None, limit: int) -> None:
    """List leaderboard entries: best first with --metric, newest first otherwise."""
    from rich.console import Console
    from rich.table import Table

    from reelflow.bench._leaderboard import Leaderboard
    from reelflow.store import Store

    board = Leaderboard(Store.open(create=False))
    if metric is None:
        rows = board.entries(fingerprint, split, limit=limit)
    else:
        rows = board.top(metric, fingerprint, split, limit=limit)
    if rows.empty:
        click.echo("no leaderboard entries match")
        return
    table = Table(box=None)
    for column in ("id", "model", "metric", "mean", "95% CI", "users", "data", "split", "run"):
        table.add_column(column, no_wrap=column != "split", overflow="fold")
    for row in rows.to_dict("records"):
        table.add_row(*_entry_cells(row))
    Console().print(table)


# --- building what was asked for ---------------------------------------------------------------


def build_models(names: str, params: tuple[str, ...], seed: int) -> dict[str, Recommender]:
    """Models by short name with default parameters, ``--param`` values and the seed set."""
    import reelflow.models as catalogue

    wanted = [name.strip().lower() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in MODELS]
    if unknown or not wanted:
        raise UsageError(
            f"unknown model '{unknown[0] if unknown else names}'; use {', '.join(MODELS)}"
        )
    built: dict[str, Recommender] = {name: getattr(catalogue, MODELS[name])() for name in wanted}
    for model in built.values():
        if "random_state" in model.get_params():
            model.set_params(random_state=seed)
    for spec in params:
        _set_param(built, spec)
    return built


def _set_param(models: dict[str, Recommender], spec: str) -> None:
    target, _, value = spec.partition("=")
    name, _, param = target.strip().lower().partition(".")
    if not value or not param or name not in models:
        raise UsageError(
            f"--param '{spec}' is malformed; write MODEL.NAME=VALUE for one of the models "
            f"({', '.join(models)}), e.g. ease.l2=300"
        )
    try:
        models[name].set_params(**{param: _literal(value.strip())})
    except ModelError as exc:
        raise UsageError(exc.message) from None


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_split(spec: str, seed: int) -> Callable[[Interactions], Split]:
    """``per_user:0.25`` and friends as a split function (seeded where the split is random)."""
    from reelflow import data as d

    kind, _, value = spec.strip().lower().partition(":")
    try:
        if kind in ("per_user", "random") and value:
            holdout = d.per_user_holdout if kind == "per_user" else d.random_holdout
            return functools.partial(holdout, test_fraction=float(value), seed=seed)
        if kind == "last" and value:
            return functools.partial(d.leave_last_n, n=int(value))
        if kind == "temporal" and value:
            return functools.partial(d.temporal_cutoff, at=_literal(value))
        if kind == "loo" and not value:
            return functools.partial(d.leave_one_out, seed=seed)
    except ValueError:
        pass
    raise UsageError(f"split '{spec}' is malformed; use {SPLITS}")


def load_data(spec: str, columns: dict[str, str | None], seed: int) -> Interactions:
    """The interactions of ``--data``: synthetic:N, a CSV/Parquet file, or MovieLens."""
    from reelflow.data import Interactions, generate_interactions, load_movielens

    if spec.startswith("synthetic:"):
        count = spec.partition(":")[2]
        if not count.isdigit() or int(count) < 100:
            raise UsageError(f"'{spec}' is malformed; write synthetic:N with N >= 100 interactions")
        n = int(count)
        sizes = {"n_users": max(20, n // 20), "n_items": max(10, n // 40), "n_interactions": n}
        return generate_interactions(**sizes, seed=seed).interactions
    path = Path(spec)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            return Interactions.from_parquet(str(path), **columns)
        return Interactions.from_csv(str(path), sep="\t" if suffix == ".tsv" else ",", **columns)
    return load_movielens(spec).interactions


# --- showing results -----------------------------------------------------------------------------


def _print_result(result: BenchmarkResult) -> None:
    from rich.console import Console
    from rich.table import Table

    from reelflow.bench._report import display_table

    click.echo(
        f"data {result.data_fingerprint[:12]} · split {result.split} · "
        f"{result.n_users:,} users · top {result.k}"
    )
    shown = display_table(result)
    table = Table(box=None)
    for column in shown.columns:
        table.add_column(str(column), justify="left" if column in ("model", "metric") else "right")
    for values in shown.itertuples(index=False):
        table.add_row(*map(str, values))
    Console().print(table)


def _write_report(result: BenchmarkResult, path: Path) -> None:
    if path.suffix.lower() == ".md":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(result.to_markdown(), encoding="utf-8")
    else:
        result.to_html(path)
    click.echo(f"report written to {path}")


def _entry_cells(row: dict[str, Any]) -> list[str]:
    from reelflow.bench._report import display_interval, display_number

    run = "" if row["run_id"] is None or row["run_id"] != row["run_id"] else f"{int(row['run_id'])}"
    return [
        str(row["id"]),
        str(row["model"]),
        str(row["metric"]),
        display_number(row["mean"], 4),
        display_interval(row["ci_low"], row["ci_high"]),
        str(row["n_users"]),
        str(row["data_fingerprint"])[:8],
        str(row["split"]),
        run,
    ]
