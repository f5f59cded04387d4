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
    query = request.query_params
    p.only_known(query, {"metric", "data", "split", "sort", "desc"})
    metric, data, split = query.get("metric"), query.get("data"), query.get("split")
    rows = None
    if metric or data or split:
        if not (metric and data and split):
            raise p.BadRequest(400, "give metric, data and split together (pick a group)")
        sort = query.get("sort") or None
        rows = _board.entries(ui.board, metric, data, split, sort, query.get("desc") != "0")
    return ui.page(
        request, "leaderboard.html", groups=_board.groups(ui.board), rows=rows,
        selected={"metric": metric, "data": data, "split": split},
        lower_is_better=_board.lower_is_better(metric or ""),
        sort=query.get("sort"), sorts=_board.SORTS,
    )  # fmt: skip


def monitoring(ui: UI, request: Request) -> Response:
    found = _monitoring.reports(ui.store.config.home)
    return ui.page(request, "monitoring.html", models=found)


def home(ui: UI, request: Request) -> Response:
    return RedirectResponse("/runs", status_code=302)
