"""The docs match the code: the CLI reference is generated and complete, settings are documented,
the README's set-up commands are marked, and the flows in the docs are valid Python."""

from __future__ import annotations

import importlib.util
import re
import textwrap
from pathlib import Path
from types import ModuleType

import click
import pytest

from reelflow._errors import ReelflowError

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "reelflow"
KNOWN_ENV = {"REELFLOW_HOME", "REELFLOW_DB", "REELFLOW_DEBUG"}


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return _generator()


@pytest.fixture(scope="module")
def cli_doc() -> str:
    return (DOCS / "cli.md").read_text(encoding="utf-8")


def _code_blocks(text: str, language: str) -> list[str]:
    pattern = rf"^```{language}[ \t]*\n(.*?)^```[ \t]*$"
    return [textwrap.dedent(m) for m in re.findall(pattern, text, flags=re.DOTALL | re.MULTILINE)]


# --- docs/cli.md ------------------------------------------------------------------------------


def test_cli_reference_is_up_to_date(gen: ModuleType, cli_doc: str) -> None:
    assert cli_doc == gen.render(), "docs/cli.md is stale: run python scripts/gen_cli_docs.py"


def test_check_mode_fails_on_a_stale_file(gen: ModuleType, tmp_path: Path) -> None:
    target = tmp_path / "cli.md"
    target.write_text("# stale\n", encoding="utf-8")
    assert gen.main(["--check"], path=target) == 1
    assert target.read_text(encoding="utf-8") == "# stale\n"
    assert gen.main([], path=target) == 0
    assert gen.main(["--check"], path=target) == 0


def _sections(doc: str) -> dict[str, str]:
    """The text under each ``## heading`` of the CLI reference, by heading."""
    parts = re.split(r"^## (.+)$", doc, flags=re.MULTILINE)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_every_command_option_and_argument_is_documented(gen: ModuleType, cli_doc: str) -> None:
    sections = _sections(cli_doc)
    commands = list(gen.walk(gen.load_cli(), "reelflow"))
    assert {ctx.command_path for _, ctx in commands} >= {
        "reelflow",
        "reelflow run",
        "reelflow resume",
        "reelflow store check",
    }
    for command, ctx in commands:
        body = sections.get(ctx.command_path)
        assert body is not None, f"docs/cli.md has no section '## {ctx.command_path}'"
        for param in command.get_params(ctx):
            if isinstance(param, click.Option):
                for flag in (*param.opts, *param.secondary_opts):
                    assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", body), (
                        f"option {flag} of '{ctx.command_path}' is missing from docs/cli.md"
                    )
            else:
                shown = param.make_metavar(ctx)
                assert shown in body, f"argument {shown} of '{ctx.command_path}' is not shown"


def _error_classes() -> list[type[ReelflowError]]:
    def subclasses(cls: type[ReelflowError]) -> list[type[ReelflowError]]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]

    return subclasses(ReelflowError)


def test_every_exit_code_is_documented(gen: ModuleType) -> None:
    used = {cls.exit_code for cls in _error_classes()} | {0, 2}  # 2: click usage errors
    documented = {int(code) for code, _ in gen.EXIT_CODES}
    assert used <= documented, f"exit codes not in docs/cli.md: {sorted(used - documented)}"


def test_every_error_is_documented_with_its_exit_code() -> None:
    concepts = (DOCS / "concepts.md").read_text(encoding="utf-8")
    for cls in _error_classes():
        row = re.search(rf"^\| `{cls.__name__}` \|.*\| (\d+) \|$", concepts, re.MULTILINE)
        if cls is ReelflowError:
            assert f"`{cls.__name__}`" in concepts
            continue
        assert row is not None, f"docs/concepts.md has no row for {cls.__name__} in its error table"
        assert int(row.group(1)) == cls.exit_code, f"wrong exit code for {cls.__name__}"


# --- settings ---------------------------------------------------------------------------------


def _environment_variables_read() -> set[str]:
    pattern = re.compile(r"""(?:os\.environ\.get|os\.getenv|os\.environ\[)\(?\s*["'](\w+)["']""")
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        found.update(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_environment_variable_is_documented() -> None:
    read = _environment_variables_read()
    assert read >= KNOWN_ENV, f"the source no longer reads {sorted(KNOWN_ENV - read)}?"
    concepts = (DOCS / "concepts.md").read_text(encoding="utf-8")
    missing = sorted(name for name in read if f"`{name}`" not in concepts)
    assert not missing, f"environment variables not documented in docs/concepts.md: {missing}"


def test_store_settings_are_documented() -> None:
    concepts = (DOCS / "concepts.md").read_text(encoding="utf-8")
    for setting in ("reelflow.toml", "[store]", "home", "db"):
        assert setting in concepts


# --- README -------------------------------------------------------------------------------------


def test_readme_marks_exactly_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    markers = re.findall(r"<!--\s*([\w-]+-command)\s*-->", readme)
    assert sorted(markers) == ["main-command", "test-command"], markers
    for marker in markers:
        block = re.search(
            rf"<!--\s*{marker}\s*-->\s*\n```(?:bash|sh|console)?\n(.*?)\n```", readme, re.DOTALL
        )
        assert block is not None, f"<!-- {marker} --> is not followed by a code block"
        lines = [line for line in block.group(1).splitlines() if line.strip()]
        assert len(lines) == 1, f"<!-- {marker} --> must mark one command line, found {lines}"
        for word in re.findall(r"[\w./-]+\.(?:py|sh)\b", lines[0]):
            assert (ROOT / word).is_file(), f"<!-- {marker} --> names a missing file: {word}"


# --- flows in the docs --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["quickstart.md", "concepts.md"])
def test_python_blocks_compile(name: str) -> None:
    text = (DOCS / name).read_text(encoding="utf-8")
    blocks = _code_blocks(text, "python")
    flows = [b for b in blocks if re.search(r"^class \w+\((?:\w+\.)?Flow\):", b, re.MULTILINE)]
    assert flows, f"docs/{name} shows no flow"
    for number, block in enumerate(blocks, start=1):
        try:
            compile(block, f"docs/{name} python block {number}", "exec")
        except SyntaxError as exc:
            pytest.fail(f"docs/{name}: python block {number} does not compile: {exc}")


def test_quickstart_shows_the_example_as_it_is() -> None:
    example = (ROOT / "examples" / "hello_flow.py").read_text(encoding="utf-8")
    blocks = _code_blocks((DOCS / "quickstart.md").read_text(encoding="utf-8"), "python")
    assert example in blocks, "docs/quickstart.md no longer shows examples/hello_flow.py verbatim"
