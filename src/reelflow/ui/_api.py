"""The JSON API (``/api/...``) and the binary resources pages embed (plots, charts, inline
artifacts, monitor reports)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from reelflow.flow._client import Run, Task
from reelflow.guards._report import plot_png
from reelflow.store import ArtifactRecord, RunRecord
from reelflow.ui import _board, _models, _monitoring, _runs
from reelflow.ui import _params as p
from reelflow.ui._context import UI, json_response
from reelflow.ui._preview import image_type, looks_like_html, payload, preview_from_query

# Shown inline but never allowed to run scripts, load anything or reach the UI's own pages.
SANDBOX = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def runs(ui: UI, request: Request) -> Response:
    return json_response(_runs.run_list(ui.client, request.query_params))


def path_run(ui: UI, request: Request) -> Run:
    """The run named by the path's ``run_id`` (a 404 when there is none)."""
    return _runs.get_run(ui.client, p.identifier(request.path_params["run_id"], "run"))


def path_task(ui: UI, request: Request) -> tuple[Task, RunRecord]:
    """The task named by the path's ``run_id`` and ``task_id``, and its run's record (read
    alone, not with the run's other tasks: a task page polls its logs through this)."""
    run_id = p.identifier(request.path_params["run_id"], "run")
    task_id = p.identifier(request.path_params["task_id"], "task")
    return _runs.get_task(ui.client, run_id, task_id)


def path_artifact(task: Task, request: Request) -> ArtifactRecord:
    """The artifact of ``task`` named by the path's ``name``."""
    record = task.artifacts.get(request.path_params["name"])
    if record is None:
        raise p.NotFound(f"task {task.id} has no artifact {request.path_params['name']!r}")
    return record


def run(ui: UI, request: Request) -> Response:
    found = path_run(ui, request)
    return json_response(_runs.run_detail(found, _runs.run_guards(found)))


def run_status(ui: UI, request: Request) -> Response:
    return json_response(_runs.run_status(path_run(ui, request)))


def run_guards(ui: UI, request: Request) -> Response:
    return json_response(_runs.run_guards(path_run(ui, request)))


def guard_plot(ui: UI, request: Request) -> Response:
    row = _runs.guard_row(
        path_run(ui, request), p.identifier(request.path_params["guard_id"], "guard")
    )
    try:
        image = plot_png(row)
    except Exception as exc:  # bad plot data: say so, as the report does
        raise p.BadRequest(
            422, f"the plot could not be drawn ({type(exc).__name__}: {exc})"
        ) from None
    if image is None:
        raise p.NotFound(f"guard result {row['id']} has no plot")
    return Response(image, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


def task(ui: UI, request: Request) -> Response:
    chosen, owner = path_task(ui, request)
    return json_response(_runs.task_detail(chosen, owner.status))


def task_logs(ui: UI, request: Request) -> Response:
    query = request.query_params
    p.only_known(query, {"attempt"})
    attempt = query.get("attempt")
    number = None if not attempt else p.integer(attempt, "attempt", default=0, low=0, high=10**6)
    chosen, owner = path_task(ui, request)
    return json_response(_runs.task_logs(ui.client, chosen, number, owner.status))


def artifact_preview(ui: UI, request: Request) -> tuple[Task, RunRecord, dict[str, Any]]:
    """The task, its run and the preview of the artifact the path names (rows from the
    query)."""
    chosen, owner = path_task(ui, request)
    record = path_artifact(chosen, request)
    hint = _runs.load_hint(ui.client, chosen, record.name) if record.encoding == "pickle" else None
    return chosen, owner, preview_from_query(ui.store, record, request.query_params, hint)


def artifact(ui: UI, request: Request) -> Response:
    return json_response(artifact_preview(ui, request)[2])


def artifact_payload(ui: UI, request: Request) -> Response:
    """The image or HTML page a pickled ``bytes``/``str`` artifact holds (read without
    unpickling), served sandboxed; 404 for anything else."""
    chosen, _ = path_task(ui, request)
    value = payload(ui.store, path_artifact(chosen, request))
    if isinstance(value, bytes) and (kind := image_type(value)) is not None:
        return Response(value, media_type=kind, headers={"Content-Security-Policy": SANDBOX})
    if isinstance(value, str) and looks_like_html(value):
        return Response(value, media_type="text/html", headers={"Content-Security-Policy": SANDBOX})
    raise p.NotFound(f"artifact {request.path_params['name']!r} is not an image or an HTML page")


def models(ui: UI, request: Request) -> Response:
    return json_response(_models.model_list(ui.registry))


def model(ui: UI, request: Request) -> Response:
    model_name = p.name(request.path_params["name"], "model") or ""
    return json_response(_models.model_detail(ui.registry, model_name))


def leaderboard(ui: UI, request: Request) -> Response:
    picked = _board.selection(request.query_params)
    if picked is None:
        return json_response({"groups": _board.groups(ui.board)})
    rows = _board.entries(ui.board, picked)
    return json_response({"metric": picked.metric, "data": picked.data, "split": picked.split,
                          "entries": rows})  # fmt: skip


def leaderboard_chart(ui: UI, request: Request) -> Response:
    picked = _board.selection(request.query_params, sortable=False)
    if picked is None:
        raise p.BadRequest(400, "give metric, data and split")
    rows = _board.entries(ui.board, picked)
    if not rows:
        raise p.NotFound("no leaderboard entries for that metric, data and split")
    return Response(_board.chart_png(rows, picked.metric), media_type="image/png")


def monitoring(ui: UI, request: Request) -> Response:
    return json_response(_monitoring.reports(ui.store.config.home))


def monitor_report(ui: UI, request: Request) -> Response:
    path = _monitoring.report_path(ui.store.config.home, request.path_params["file"])
    return FileResponse(path, media_type="text/html", headers={"Content-Security-Policy": SANDBOX})
