"""``reelflow run``, ``reelflow resume`` and ``reelflow graph``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from reelflow._errors import ReelflowError
from reelflow.cli._app import cli

if TYPE_CHECKING:
    from reelflow.flow import RunOutcome

_WORKERS_HELP = "Tasks run at once (default: the number of cores, or of the Ray cluster's CPUs)."


def executor_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--executor`` and ``--ray-address``, shared by the commands that run flows."""
    command = click.option(
        "--ray-address",
        metavar="HOST:PORT",
        default=None,
        help="With --executor ray: the Ray cluster to join (default: start a local Ray "
        "instance for the run).",
    )(command)
    return click.option(
        "--executor",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help="Where tasks run: worker processes of this machine, or Ray tasks.",
    )(command)


class FlowCommand(click.Command):
    """``run FILE --help`` also lists the flow's parameters, read from FILE."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help(ctx, formatter)
        file = next(
            (a for a in ctx.meta.get("reelflow_argv", []) if a.endswith(".py") or ":" in a), None
        )
        if file is None:
            return
        try:
            from reelflow.flow._runner import load

            cls, graph, _ = load(file)
        except ReelflowError as exc:
            formatter.write_paragraph()
            formatter.write_text(f"(cannot read the flow's parameters: {exc})")
            return
        rows = [(f"-p {p.name}=…", p.describe()) for p in cls.parameters().values()]
        with formatter.section(f"Parameters of {graph.flow_name}"):
            formatter.write_dl(rows or [("(none)", "this flow takes no parameters")])

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["reelflow_argv"] = list(args)
        return super().parse_args(ctx, args)


@cli.command(cls=FlowCommand)
@click.argument("flow_file", metavar="FILE[:CLASS]")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a flow parameter (repeatable).",
)
@click.option("--max-workers", type=click.IntRange(min=1), default=None, help=_WORKERS_HELP)
@executor_options
@click.option("--tag", "tags", multiple=True, help="Tag the run (repeatable).")
@click.option("--plain", is_flag=True, help="Plain log lines even in a terminal.")
def run(
    flow_file: str,
    params: tuple[str, ...],
    max_workers: int | None,
    executor: str,
    ray_address: str | None,
    tags: tuple[str, ...],
    plain: bool,
) -> None:
    """Run the flow defined in FILE."""
    _run_file(flow_file, params, max_workers, executor, ray_address, tags, plain)


def _run_file(
    flow_file: str,
    params: tuple[str, ...],
    max_workers: int | None,
    executor: str,
    ray_address: str | None,
    tags: tuple[str, ...],
    plain: bool,
) -> None:
    """Run a flow file to its end and print the closing line (``run`` and ``quickstart``)."""
    from reelflow.flow._display import make_display
    from reelflow.flow._parameters import parse_assignments
    from reelflow.flow._runner import run_flow

    outcome = run_flow(
        flow_file,
        parse_assignments(params),
        max_workers=max_workers,
        tags=tags,
        display=make_display(force_plain=plain),
        executor=executor,
        ray_address=ray_address,
    )
    _done(outcome)


@cli.command()
@click.argument("target", required=False, metavar="[RUN_ID | FILE]")
@click.option("--from", "from_step", metavar="STEP", help="Re-run from this step on.")
@click.option("--max-workers", type=click.IntRange(min=1), default=None, help=_WORKERS_HELP)
@executor_options
@click.option("--tag", "tags", multiple=True, help="Tag the new run (repeatable).")
@click.option("--plain", is_flag=True, help="Plain log lines even in a terminal.")
def resume(
    target: str | None,
    from_step: str | None,
    max_workers: int | None,
    executor: str,
    ray_address: str | None,
    tags: tuple[str, ...],
    plain: bool,
) -> None:
    """Resume a failed or interrupted run, re-using every task that succeeded.

    With no argument: the most recent failed or interrupted run in the store. With FILE: that
    flow's latest failed run. The flow's current code runs, so fixes made since apply.
    """
    from reelflow.flow._display import make_display
    from reelflow.flow._runner import resume_run

    outcome = resume_run(
        target,
        from_step=from_step,
        max_workers=max_workers,
        tags=tags,
        display=make_display(force_plain=plain),
        executor=executor,
        ray_address=ray_address,
    )
    _done(outcome)


@cli.command()
@click.argument("flow_file", metavar="FILE[:CLASS]")
def graph(flow_file: str) -> None:
    """Check the flow in FILE and print its graph."""
    from reelflow.flow._runner import load

    _, flow_graph, _ = load(flow_file)
    click.echo(flow_graph.render_text())


def _done(outcome: RunOutcome) -> None:
    """The closing line, with where to look next."""
    click.echo(
        f"run {outcome.run_id} of {outcome.flow_name} {outcome.status}; "
        f"see it with 'reelflow show {outcome.run_id}'"
    )


@cli.command()
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a parameter of PersonalizationFlow (repeatable), e.g. -p size=50000.",
)
@click.option("--max-workers", type=click.IntRange(min=1), default=None, help=_WORKERS_HELP)
@executor_options
@click.option("--plain", is_flag=True, help="Plain log lines even in a terminal.")
def quickstart(
    params: tuple[str, ...],
    max_workers: int | None,
    executor: str,
    ray_address: str | None,
    plain: bool,
) -> None:
    """Run the reference personalization flow on a synthetic log: ingest, validate, features,
    split, train candidates, benchmark, gate and promote (examples/personalization.py)."""
    from importlib.resources import as_file, files

    with as_file(files("reelflow.examples") / "personalization.py") as flow_file:
        _run_file(
            str(flow_file), params, max_workers, executor, ray_address, ("quickstart",), plain
        )
