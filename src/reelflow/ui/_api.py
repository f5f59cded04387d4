"""The JSON API (``/api/...``) and the binary resources pages embed (plots, charts, inline
artifacts, monitor reports)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from reelflow.flow._client import Run, Task
from reelflow.guards._report import plot_png
from reelflow.ui import _board, _models, _monitoring, _runs
from reelflow.ui import _params as p
from reelflow.ui._context import UI, json_response
from reelflow.ui._preview import inline_body, preview

# Shown inline but never allowed to run scripts, load anything or reach the UI's own pages.
SANDBOX = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def runs(ui: UI, request: Request) -> Response:
    query = request.query_params
    p.only_known(query, {"flow", "status", "tag", "page", "per_page"})
    return json_response(
        _runs.run_list(
            ui.client,
            flow=p.name(query.get("flow"), "flow"),
            status=p.status(query.get("status")),
            tag=p.tag(query.get("tag")),
            page=p.integer(query.get("page"), "page", default=1, low=1, high=10**9),
            size=p.integer(
                query.get("per_page"), "per_page", default=50, low=1, high=p.MAX_PAGE_SIZE
            ),
        )
    )


def _run(ui: UI, request: Request) -> Run:
    return _runs.get_run(ui.client, p.identifier(request.path_params["run_id"], "run"))


def _task(ui: UI, request: Request) -> Task:
    run = _run(ui, request)
    return _runs.get_task(ui.client, run, p.identifier(request.path_params["task_id"], "task"))


def run(ui: UI, request: Request) -> Response:
    return json_response(_runs.run_detail(_run(ui, request)))


def run_status(ui: UI, request: Request) -> Response:
    return json_response(_runs.run_status(_run(ui, request)))


def run_guards(ui: UI, request: Request) -> Response:
    return json_response(_runs.run_guards(_run(ui, request)))


def guard_plot(ui: UI, request: Request) -> Response:
    row = _runs.guard_row(_run(ui, request), p.identifier(request.path_params["guard_id"], "guard"))
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
    return json_response(_runs.task_detail(_task(ui, request)))


def task_logs(ui: UI, request: Request) -> Response:
    query = request.query_params
    p.only_known(query, {"attempt"})
    attempt = query.get("attempt")
    number = None if not attempt else p.integer(attempt, "attempt", default=0, low=0, high=10**6)
    return json_response(_runs.task_logs(ui.client, _task(ui, request), number))


def artifact(ui: UI, request: Request) -> Response:
    chosen = _task(ui, request)
    record = chosen.artifacts.get(request.path_params["name"])
    if record is None:
        raise p.NotFound(f"task {chosen.id} has no artifact {request.path_params['name']!r}")
    query = request.query_params
    p.only_known(query, {"offset", "limit"})
    return json_response(
        preview(
            ui.store, record,
            offset=p.integer(query.get("offset"), "offset", default=0, low=0, high=10**12),
            limit=p.integer(query.get("limit"), "limit", default=50, low=1, high=p.MAX_PAGE_SIZE),
        )
    )  # fmt: skip


def artifact_raw(ui: UI, request: Request) -> Response:
    chosen = _task(ui, request)
    record = chosen.artifacts.get(request.path_params["name"])
    body = None if record is None else inline_body(ui.store, record)
    if body is None:
        raise p.NotFound(f"task {chosen.id} has no artifact shown inline under that name")
    return Response(body[0], media_type=body[1], headers={"Content-Security-Policy": SANDBOX})


def models(ui: UI, request: Request) -> Response:
    return json_response(_models.model_list(ui.registry))


def model(ui: UI, request: Request) -> Response:
    model_name = p.name(request.path_params["name"], "model") or ""
    return json_response(_models.model_detail(ui.registry, model_name))


def leaderboard(ui: UI, request: Request) -> Response:
    query = request.query_params
    p.only_known(query, {"metric", "data", "split", "sort", "desc"})
    metric, data, split = query.get("metric"), query.get("data"), query.get("split")
    if not (metric or data or split):
        return json_response({"groups": _board.groups(ui.board)})
    if not (metric and data and split):
        raise p.BadRequest(400, "give metric, data and split together (or none of them)")
    rows = _board.entries(
        ui.board, metric, data, split, query.get("sort") or None, query.get("desc") != "0"
    )
    return json_response({"metric": metric, "data": data, "split": split, "entries": rows})


def leaderboard_chart(ui: UI, request: Request) -> Response:
    query = request.query_params
    p.only_known(query, {"metric", "data", "split"})
    metric, data, split = query.get("metric"), query.get("data"), query.get("split")
    if not (metric and data and split):
        raise p.BadRequest(400, "give metric, data and split")
    rows = _board.entries(ui.board, metric, data, split, None, True)
    if not rows:
        raise p.NotFound("no leaderboard entries for that metric, data and split")
    return Response(_board.chart_png(rows, metric), media_type="image/png")


def monitoring(ui: UI, request: Request) -> Response:
    return json_response(_monitoring.reports(ui.store.config.home))


def monitor_report(ui: UI, request: Request) -> Response:
    path = _monitoring.report_path(ui.store.config.home, request.path_params["file"])
    return FileResponse(path, media_type="text/html", headers={"Content-Security-Policy": SANDBOX})
