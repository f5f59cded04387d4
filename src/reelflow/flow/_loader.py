"""Load a user's flow file as a module and find its Flow class, with errors that point at it."""

from __future__ import annotations

import hashlib
import importlib.util
import linecache
import sys
import traceback
from pathlib import Path
from types import ModuleType

from reelflow._errors import FlowDefinitionError
from reelflow.flow._flowspec import Flow

_loaded: dict[tuple[str, str], ModuleType] = {}


def module_name_for(path: Path) -> str:
    """The stem when it is importable and free, so pickled classes from the flow load elsewhere."""
    stem = path.stem
    existing = sys.modules.get(stem)
    if stem.isidentifier() and (
        existing is None or getattr(existing, "__file__", None) == str(path)
    ):
        return stem
    return f"reelflow_flow_{hashlib.sha256(str(path).encode()).hexdigest()[:16]}"


def load_module(file: str | Path) -> ModuleType:
    """Import ``file`` (again when it changed), its folder on ``sys.path`` as Python does."""
    path = Path(file).resolve()
    if not path.is_file():
        raise FlowDefinitionError(f"flow file not found: {file}; check the path")
    raw = path.read_bytes()
    version = (str(path), hashlib.sha256(raw).hexdigest())
    cached = _loaded.get(version)
    if cached is not None:
        return cached
    linecache.checkcache(str(path))  # the graph is read from this source: never a stale copy
    source = raw.decode("utf-8", errors="replace")
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise FlowDefinitionError(
            f"syntax error: {exc.msg}", file=str(path), line=exc.lineno
        ) from None
    name = module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        line = _line_in(exc, path)
        raise FlowDefinitionError(
            f"loading the flow raised {type(exc).__name__}: {exc}", file=str(path), line=line
        ) from None
    _loaded[version] = module
    return module


def load_flow(file: str | Path, class_name: str | None = None) -> type[Flow]:
    """The Flow subclass defined in ``file`` (the one named ``class_name`` if there are several)."""
    module = load_module(file)
    flows = {
        name: obj
        for name, obj in vars(module).items()
        if isinstance(obj, type) and issubclass(obj, Flow) and obj.__module__ == module.__name__
    }
    if class_name is not None:
        if class_name not in flows:
            raise FlowDefinitionError(
                f"no flow class '{class_name}' in {file}; it defines: {', '.join(flows) or 'none'}"
            )
        return flows[class_name]
    if not flows:
        raise FlowDefinitionError(
            f"{file} defines no Flow subclass; write 'class MyFlow(Flow):' with @step methods"
        )
    if len(flows) > 1:
        raise FlowDefinitionError(
            f"{file} defines several flows ({', '.join(flows)}); pick one with {file}:ClassName"
        )
    return next(iter(flows.values()))


def split_flow_ref(ref: str) -> tuple[str, str | None]:
    """``"flows.py:TrainFlow"`` into the file and the class name (None when not given)."""
    file, sep, name = ref.rpartition(":")
    if sep and name.isidentifier() and file.endswith(".py"):
        return file, name
    return ref, None


def _line_in(exc: BaseException, path: Path) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path:
            line = frame.lineno
    return line
