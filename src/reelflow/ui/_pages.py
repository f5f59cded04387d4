"""The HTML pages: server-rendered templates, each reading what the JSON API reads."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from reelflow.store._records import RUN_STATUSES
from reelflow.ui import _board, _models, _monitoring, _runs
from reelflow.ui import _params as p
from reelflow.ui._api import artifact_preview, path_run, path_task
from reelflow.ui._context import UI

MAX_TASKS_SHOWN = 200  # per step on a run's page (a foreach may have thousands)


def runs(ui: UI, request: Request) -> Response:
    listing = _runs.run_list(ui.client, request.query_params)
    flows = ui.client.flows()
    return ui.page(request, "runs.html", listing=listing, flows=flows, statuses=RUN_STATUSES)


def run(ui: UI, request: Request) -> Response:
    found = path_run(ui, request)
    guards = _runs.run_guards(found)
    return ui.page(
        request,
        "run.html",
        run=_runs.run_detail(found, guards),
        graph=_runs.run_graph(found),
        guards=guards,
        max_tasks=MAX_TASKS_SHOWN,
    )


def task(ui: UI, request: Request) -> Response:
    chosen, owner = path_task(ui, request)
    logs = _runs.task_logs(ui.client, chosen, None, owner.status)
    return ui.page(
        request, "task.html", run=_runs.run_summary(owner),
        task=_runs.task_detail(chosen, owner.status), logs=logs,
    )  # fmt: skip


def artifact(ui: UI, request: Request) -> Response:
    chosen, owner, shown = artifact_preview(ui, request)
    return ui.page(
        request, "artifact.html", run=_runs.run_summary(owner),
        task=_runs.task_summary(chosen.record, owner.status), artifact=shown,
    )  # fmt: skip


def models(ui: UI, request: Request) -> Response:
    return ui.page(request, "models.html", models=_models.model_list(ui.registry))


def model(ui: UI, request: Request) -> Response:
    model_name = p.name(request.path_params["name"], "model") or ""
    detail = _models.model_detail(ui.registry, model_name)
    return ui.page(request, "model.html", model=detail)


def leaderboard(ui: UI, request: Request) -> Response:
    picked = _board.selection(request.query_params)
    rows = None if picked is None else _board.entries(ui.board, picked)
    return ui.page(
        request, "leaderboard.html", groups=_board.groups(ui.board), rows=rows,
        selected={"metric": picked.metric if picked else None,
                  "data": picked.data if picked else None,
                  "split": picked.split if picked else None},
        lower_is_better=_board.lower_is_better(picked.metric if picked else ""),
        sort=picked.sort if picked else None, sorts=_board.SORTS,
    )  # fmt: skip


def monitoring(ui: UI, request: Request) -> Response:
    found = _monitoring.reports(ui.store.config.home)
    return ui.page(request, "monitoring.html", models=found)


def home(ui: UI, request: Request) -> Response:
    return RedirectResponse("/runs", status_code=302)
