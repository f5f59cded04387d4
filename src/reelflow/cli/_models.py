"""``reelflow models``: list, show, promote (through gates), roll back and audit model versions."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reelflow._errors import UsageError
from reelflow.cli._app import cli
from reelflow.cli._tables import print_results

if TYPE_CHECKING:
    from reelflow.guards import Gate
    from reelflow.registry import Registry

GATES = "beats:METRIC[:DELTA], not_worse:METRIC[:TOL], latency:P99_MS, coverage:FLOOR, no_nan, "
GATES += "not_degenerate[:SHARE], loads, importance"


@cli.group()
def models() -> None:
    """The model registry: versions, aliases, gated promotion, rollback, history."""


def _registry() -> Registry:
    from reelflow.registry import Registry
    from reelflow.store import Store

    return Registry(Store.open(create=False))


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


@models.command("list")
def list_models() -> None:
    """Every registered model: latest version, number of versions, aliases."""
    rows = _registry().models()
    if not rows:
        click.echo("no models registered yet (Registry().register(name, model) in a step)")
        return
    table = Table(box=None)
    for column in ("model", "latest", "versions", "aliases"):
        table.add_column(column)
    for row in rows:
        aliases = ", ".join(f"{a}={v}" for a, v in sorted(row["aliases"].items())) or "-"
        table.add_row(row["name"], str(row["latest"]), str(row["versions"]), aliases)
    Console().print(table)


@models.command()
@click.argument("ref", metavar="NAME[@ALIAS|:VERSION]")
def show(ref: str) -> None:
    """One version: class, parameters, metrics, lineage, data, aliases, files, guard results."""
    from reelflow.store._guards import GuardResultStore

    registry = _registry()
    version = registry.get(ref)
    console = Console()
    console.print(f"[bold]{version.ref}[/] {version.model_class}", highlight=False)
    lines = {
        "registered": f"{_when(version.created_at)} by {version.user or '-'}",
        "aliases": ", ".join(version.aliases) or "-",
        "parameters": json.dumps(version.params, sort_keys=True),
        "metrics": json.dumps(version.metrics, sort_keys=True) if version.metrics else "-",
        "data": version.data_fingerprint or "-",
        "lineage": json.dumps(version.lineage, sort_keys=True) if version.lineage else "-",
        "files": f"{len(version.files)} ({sum(f[2] for f in version.files):,} bytes)",
        "description": version.description or "-",
    }
    for key, value in lines.items():
        console.print(f"{key:>12}: {escape(value)}", highlight=False)
    subject = f"model:{version.name}:{version.version}"
    rows = GuardResultStore(registry.store.metadata).query(subject=subject)
    if rows:
        from reelflow.guards import GuardResult

        results = [GuardResult.from_record(r) for r in rows]
        print_results(console, results, "guard results", kind="check")


@models.command()
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--alias", default="champion", show_default=True, help="The alias to move.")
@click.option(
    "--gate",
    "gate_specs",
    multiple=True,
    metavar="GATE",
    help=f"A gate (repeatable): {GATES}. Default: no_nan, not_degenerate, loads, "
    "and not_worse:ndcg@10 when --data is given.",
)
@click.option(
    "--data",
    "data_spec",
    default=None,
    metavar="SOURCE",
    help="Evaluation data "
    "(as for 'reelflow bench': a file, a MovieLens folder or name, synthetic:N).",
)
@click.option(
    "--split",
    "split_spec",
    default="per_user:0.2",
    show_default=True,
    help="How --data is split; the test part is what both models are scored on.",
)
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the split."
)
@click.option("--force", is_flag=True, help="Promote even if a blocking gate fails.")
@click.option("--reason", default=None, help="Why (required with --force; recorded).")
def promote(
    name: str,
    version: int,
    alias: str,
    gate_specs: tuple[str, ...],
    data_spec: str | None,
    split_spec: str,
    seed: int,
    force: bool,
    reason: str | None,
) -> None:
    """Run gates on NAME:VERSION against the alias's holder and move the alias if they pass."""
    registry = _registry()
    data = _evaluation_data(registry, f"{name}:{version}", data_spec, split_spec, seed)
    specs = gate_specs or _default_gates(data is not None)
    gates = [parse_gate(spec) for spec in specs]
    promotion = registry.promote(
        name,
        version,
        gates=gates,
        alias=alias,
        data=data,
        force=force,
        reason=reason,
        raise_on_refusal=False,
    )
    print_results(Console(), list(promotion.results), f"promotion {promotion.id}", kind="gate")
    click.echo(promotion.summary())
    if not promotion.promoted:
        raise SystemExit(1)


@models.command()
@click.argument("name")
@click.option("--alias", default="champion", show_default=True, help="The alias to move back.")
@click.option("--reason", default=None, help="Why (recorded in the history).")
def rollback(name: str, alias: str, reason: str | None) -> None:
    """Move the alias back to the version it held before its last promotion."""
    version = _registry().rollback(name, alias=alias, reason=reason)
    click.echo(f"{name}@{alias} is now version {version}")


@models.command()
@click.argument("name")
@click.option("--alias", default=None, help="Only this alias.")
def history(name: str, alias: str | None) -> None:
    """Every alias move: when, who, from and to, why, and the promotion that decided it."""
    events = _registry().history(name, alias=alias)
    if not events:
        click.echo(f"no alias of {name} has moved yet")
        return
    table = Table(box=None)
    for column in ("when", "alias", "from", "to", "action", "who", "promotion", "reason"):
        table.add_column(column)
    for event in events:
        table.add_row(
            _when(event["created_at"]),
            event["alias"],
            str(event["from_version"] or "-"),
            str(event["to_version"] or "-"),
            event["action"],
            event["actor"] or "-",
            str(event["promotion_id"] or "-"),
            escape(event["reason"] or "-"),
        )
    Console().print(table)


def parse_gate(spec: str) -> Gate:
    """A gate from its command-line form, e.g. ``not_worse:ndcg@10:0.01``."""
    from reelflow import guards as g

    kind, *args = spec.strip().split(":")
    try:
        if kind in ("beats", "not_worse") and 1 <= len(args) <= 2:
            metric, value = args[0], float(args[1]) if len(args) == 2 else 0.0
            if kind == "beats":
                return g.beats_champion(metric, min_delta=value)
            return g.not_worse_than_champion(metric, tolerance=value)
        if kind == "latency" and len(args) == 1:
            return g.latency(p99_ms=float(args[0]))
        if kind == "coverage" and len(args) == 1:
            return g.coverage_at_least(float(args[0]))
        if kind == "not_degenerate" and len(args) <= 1:
            return g.not_degenerate(max_top_item_share=float(args[0]) if args else 0.5)
        simple = {"no_nan": g.no_nan_scores, "loads": g.loads_in_fresh_process}
        if kind in simple and not args:
            return simple[kind]()
        if kind == "importance" and not args:
            return g.importance_stable()
    except ValueError:
        pass
    raise UsageError(f"gate '{spec}' is malformed; use one of {GATES}")


def _default_gates(with_data: bool) -> tuple[str, ...]:
    base = ("no_nan", "not_degenerate", "loads")
    return (*base, "not_worse:ndcg@10") if with_data else base


def _evaluation_data(
    registry: Registry, ref: str, data_spec: str | None, split_spec: str, seed: int
) -> Any:
    if data_spec is None:
        return None
    from reelflow.cli._bench import load_data, parse_split

    columns = {"user": "user_id", "item": "item_id", "rating": None, "timestamp": None}
    split = parse_split(split_spec, seed)(load_data(data_spec, columns, seed))
    trained_on = registry.get(ref).data_fingerprint
    if trained_on and trained_on != split.train.fingerprint:
        click.echo(
            f"warning: {ref} was trained on data {trained_on[:12]}, not on this split's training "
            f"part ({split.train.fingerprint[:12]}); its scores may include data it has seen",
            err=True,
        )
    return split
