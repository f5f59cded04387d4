"""The pieces under the pages: the graph layout, the run search in SQL (and the indexes it
uses), and artifact previews within their budgets."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from reelflow.store import ArtifactRecord, Store
from reelflow.store._search import search_runs
from reelflow.ui._graph import layout, step_status
from reelflow.ui._preview import MAX_CELL_CHARS, MAX_TEXT_CHARS, payload, preview

from .conftest import client_for, reelflow

BRANCHY = {
    "order": ["start", "a", "b", "join", "fan", "body", "gather", "end"],
    "steps": {
        "start": {"targets": ["a", "b"], "kind": "split"},
        "a": {"targets": ["join"]}, "b": {"targets": ["join"]},
        "join": {"targets": ["fan"], "kind": "join"},
        "fan": {"targets": ["body"], "kind": "foreach"}, "body": {"targets": ["gather"]},
        "gather": {"targets": ["end"], "kind": "join"}, "end": {"targets": []},
    },
}  # fmt: skip


def test_layout_puts_branches_side_by_side_and_summarises_a_foreach() -> None:
    drawn = layout(BRANCHY, {"start": ["succeeded"], "body": ["succeeded", "failed", "running"]})
    at = {n.name: n for n in drawn.nodes}
    assert at["a"].y == at["b"].y and at["a"].x != at["b"].x
    assert at["start"].y < at["a"].y < at["join"].y < at["fan"].y < at["body"].y < at["end"].y
    assert (at["body"].label, at["body"].status) == ("body \u00d73", "failed")
    assert at["end"].status == "pending" and len(drawn.edges) == 8
    assert drawn.width >= 2 * drawn.node_w and drawn.height > 7 * drawn.node_h


def test_step_status_shows_failures_then_running() -> None:
    assert step_status([]) == "pending"
    assert step_status(["succeeded", "running"]) == "running"
    assert step_status(["running", "failed"]) == "failed"


def _runs(store: Store, count: int) -> None:
    for i in range(count):
        flow = "A" if i % 2 else "B"
        run = store.metadata.create_run(flow, params={"i": i}, graph={}, flow_file="f.py",
                                        tags=["even"] if i % 2 == 0 else [])  # fmt: skip
        store.metadata.finish_run(run, "succeeded" if i % 3 else "failed")


@pytest.mark.parametrize("store", ["sqlite", "postgres"], indirect=True)
def test_search_runs_pages_and_counts_in_sql(store: Store) -> None:
    _runs(store, 30)
    page = search_runs(store.metadata, limit=7, offset=7)
    assert page.total == 30 and [r.id for r in page.runs] == list(range(23, 16, -1))
    both = search_runs(store.metadata, flow_name="A", status="failed", limit=100)
    assert [r.id for r in both.runs] == [28, 22, 16, 10, 4] and both.total == 5
    tagged = search_runs(store.metadata, tag="even", limit=3)
    assert tagged.total == 15 and [r.tags for r in tagged.runs] == [("even",)] * 3


def test_the_run_list_queries_use_indexes(store: Store) -> None:
    _runs(store, 5)
    plans = {
        "flow": "SELECT id FROM runs WHERE flow_name = 'A' ORDER BY id DESC LIMIT 5",
        "status": "SELECT count(*) FROM runs WHERE status = 'failed'",
        "tag": "SELECT run_id FROM tags WHERE tag = 'even'",
    }
    with store.metadata._reader.connect() as conn:
        for name, query in plans.items():
            plan = " ".join(
                str(row[-1]) for row in conn.execute(sa.text("EXPLAIN QUERY PLAN " + query))
            )
            assert "USING" in plan and "INDEX" in plan, (name, plan)


def _record(store: Store, value: object, name: str = "x") -> ArtifactRecord:
    saved = store.save(value)
    return ArtifactRecord(name, saved.key, saved.encoding, saved.type_name, saved.size)


def test_previews_of_arrays_and_pickles(store: Store) -> None:
    array = preview(store, _record(store, np.arange(12, dtype=np.float64).reshape(3, 4)))
    assert (array["kind"], array["shape"], array["stats"]["max"]) == ("array", [3, 4], 11.0)
    value = preview(store, _record(store, {"a": 1}), load_hint="Client().run(1)")
    assert (value["kind"], value["type"], value["hint"]) == ("pickle", "dict", "Client().run(1)")
    assert "never loads pickles" in value["note"]


def test_a_pickle_bomb_is_never_loaded(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lists sharing one list, 40 deep: tiny as a pickle, 2**40 items as a repr."""
    nested: list[object] = []
    for _ in range(40):
        nested = [nested, nested]
    record = _record(store, nested)
    assert record.size < 1000

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the UI unpickled an artifact")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(Store, "load", refuse)
    assert preview(store, record)["kind"] == "pickle"


class Page(str):
    """A str subclass: its pickle names a class, so it is not read as plain text."""


def test_pickled_text_images_and_pages_are_read_without_unpickling(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    page = "<!DOCTYPE html><title>report</title><script>alert(1)</script>"
    records = {name: _record(store, value, name) for name, value in
               [("png", png), ("page", page), ("text", "x" * 30_000), ("blob", b"\x00\x01"),
                ("subclass", Page("<!DOCTYPE html>")), ("pair", ("a", "b"))]}  # fmt: skip

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the UI unpickled an artifact")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(Store, "load", refuse)
    kinds = {name: preview(store, record)["kind"] for name, record in records.items()}
    assert kinds == {"png": "image", "page": "html", "text": "text", "blob": "pickle",
                     "subclass": "pickle", "pair": "pickle"}  # fmt: skip
    text = preview(store, records["text"])
    assert len(text["text"]) == MAX_TEXT_CHARS and text["cut"]
    assert payload(store, records["png"]) == png and payload(store, records["page"]) == page


def test_table_cells_are_cut_before_they_become_text(store: Store) -> None:
    import pyarrow as pa

    table = pa.table({"text": ["x" * 10_000_000], "items": [list(range(1_000_000))],
                      "nested": [[[list(range(100))] * 100] * 100]})  # fmt: skip
    shown = preview(store, _record(store, table))
    text, items, nested = shown["rows"][0]
    assert len(text) <= MAX_CELL_CHARS and text.endswith("\u2026")
    assert len(items) <= MAX_CELL_CHARS and items.startswith("[0, 1, 2")
    assert len(nested) <= MAX_CELL_CHARS


def test_array_previews_read_in_memory_order_and_say_how_complex_values_are_summed(
    store: Store,
) -> None:
    fortran = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4))
    shown = preview(store, _record(store, fortran))
    assert shown["head"] == list(range(12)) and shown["stats"]["max"] == 11.0
    complex_values = preview(store, _record(store, np.array([3 + 4j, 0 - 1j])))
    assert complex_values["stats"]["max"] == 5.0 and "abs" in complex_values["stats_note"]


def test_a_table_object_is_hash_checked_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    from reelflow.store import _objects

    record = _record(store, pd.DataFrame({"a": range(100)}))
    calls = []
    real = _objects.hash_file

    def counted(path: object) -> str:
        calls.append(path)
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(_objects, "hash_file", counted)
    for offset in (0, 10, 20):
        assert preview(store, record, offset=offset, limit=10)["rows"][0] == [offset]
    assert len(calls) == 1


@pytest.mark.parametrize("store", ["sqlite", "postgres"], indirect=True)
def test_the_ui_reads_runs_from_either_backend(store: Store) -> None:
    from starlette.testclient import TestClient

    from reelflow.ui import create_app

    _runs(store, 12)
    with TestClient(create_app(store), base_url="http://127.0.0.1") as client:
        found = client.get("/api/runs?flow=A&status=failed&per_page=2").json()
        assert (found["total"], [r["id"] for r in found["runs"]]) == (2, [10, 4])
        assert client.get("/api/runs?tag=even").json()["total"] == 6
        assert client.get("/runs/12").status_code == 200
        assert client.get("/api/runs/13").status_code == 404


def test_a_store_made_before_the_new_indexes_gets_them_when_opened(store: Store) -> None:
    from reelflow.store._metadata import MetadataStore

    with store.metadata._writer.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_tags_tag"))
    store.metadata.close()
    reopened = MetadataStore(store.config.db_url)
    with reopened._reader.connect() as conn:
        assert "ix_tags_tag" in {i["name"] for i in sa.inspect(conn).get_indexes("tags")}
    reopened.close()


def test_an_unreadable_object_is_a_note_not_an_error(store: Store) -> None:
    import pandas as pd

    garbage = store.objects.put_bytes(b"not an array at all")
    malformed = ArtifactRecord("x", garbage.key, "npy", "ndarray", garbage.size)
    assert "cannot be read: ValueError" in preview(store, malformed)["note"]
    table = _record(store, pd.DataFrame({"a": [1, 2]}))
    store.objects.local_path(table.key).write_bytes(b"damaged")
    damaged = preview(store, table)
    assert damaged["kind"] == "none" and "CorruptObjectError" in damaged["note"]
    store.objects.local_path(table.key, verify=False).unlink()
    assert "missing" in preview(store, table)["note"]


def test_the_ui_serves_pictures_and_pages_from_pickles_sandboxed(tmp_path: Path) -> None:
    done = reelflow(tmp_path, "run", str(Path(__file__).parent / "flows" / "pictures.py"))
    assert done.returncode == 0, done.stderr[-2000:]
    for ui in client_for(tmp_path):
        base = "/runs/1/tasks/1/artifacts"
        assert (
            f'<img class="artifact-image" src="{base}/chart/payload"'
            in ui.get(f"{base}/chart").text
        )
        assert (
            f'<iframe class="inline-html" sandbox src="{base}/report/payload"'
            in ui.get(f"{base}/report").text
        )
        image = ui.get(f"{base}/chart/payload")
        assert image.headers["content-type"] == "image/png" and image.content.startswith(b"\x89PNG")
        page = ui.get(f"{base}/report/payload")
        assert page.headers["content-security-policy"].startswith("sandbox")
        assert "<script>" in page.text  # shown as it is, but in a sandbox without scripts
        assert ui.get(f"{base}/settings/payload").status_code == 404
