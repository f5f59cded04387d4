"""The two systems under test: how to install, find and invoke Metaflow and reelflow."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
FLOWS_DIR = BENCH_DIR / "flows"
METAFLOW_VENV = BENCH_DIR / ".venv-metaflow"
METAFLOW_PACKAGES = ("metaflow", "pandas", "pyarrow")

# Inherited variables that could point either system at other code, config or services.
_DROPPED_PREFIXES = ("METAFLOW_", "REELFLOW_", "PYTHONPATH", "VIRTUAL_ENV", "BENCH_")


@dataclass(frozen=True)
class Tool:
    """One system under test: its name, the file prefix of its flows and how to launch them."""

    name: str
    prefix: str
    launcher: tuple[str, ...]
    python: Path
    max_workers: int | None
    wrapper: tuple[str, ...] = ()

    def ready(self) -> bool:
        """Whether the command that runs flows exists yet."""
        return Path(self.launcher[0]).exists()

    def flow(self, bench: str) -> Path:
        """The flow file of benchmark ``bench`` for this system."""
        return FLOWS_DIR / f"{self.prefix}_{bench}.py"

    def run_cmd(self, bench: str) -> list[str]:
        """The command that runs ``bench``'s flow from start to end."""
        workers = [] if self.max_workers is None else ["--max-workers", str(self.max_workers)]
        if self.name == "metaflow":
            cmd = [*self.launcher, str(self.flow(bench)), "--no-pylint", "run", *workers]
        else:
            cmd = [*self.launcher, "run", str(self.flow(bench)), *workers]
        return [*self.wrapper, *cmd]

    def resume_cmd(self, bench: str) -> list[str]:
        """The command that resumes the latest failed run of ``bench``'s flow."""
        if self.name == "metaflow":
            cmd = [*self.launcher, str(self.flow(bench)), "--no-pylint", "resume"]
        else:
            cmd = [*self.launcher, "resume", str(self.flow(bench))]
        return [*self.wrapper, *cmd]

    def env(self, workdir: Path) -> dict[str, str]:
        """A clean environment whose home, store and metadata all live in ``workdir``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
        env.update(HOME=str(workdir), USERNAME="bench", USER="bench")
        if self.name == "metaflow":
            env.update(
                METAFLOW_DEFAULT_DATASTORE="local",
                METAFLOW_DEFAULT_METADATA="local",
                METAFLOW_DEFAULT_ENVIRONMENT="local",
                METAFLOW_DATASTORE_SYSROOT_LOCAL=str(workdir),
            )
        return env


def metaflow_tool(max_workers: int | None, wrapper: tuple[str, ...] = ()) -> Tool:
    """Metaflow, run by the interpreter of ``benchmarks/.venv-metaflow``."""
    python = METAFLOW_VENV / "bin" / "python"
    return Tool("metaflow", "mf", (str(python),), python, max_workers, wrapper)


def reelflow_tool(
    max_workers: int | None, command: str | None = None, wrapper: tuple[str, ...] = ()
) -> Tool:
    """reelflow's console script next to this interpreter (or ``command``); may not exist yet."""
    script = Path(command) if command else Path(sys.executable).parent / "reelflow"
    return Tool("reelflow", "rf", (str(script),), Path(sys.executable), max_workers, wrapper)


def ensure_metaflow_venv(upgrade: bool = False) -> str:
    """Create ``.venv-metaflow`` with the latest Metaflow if needed; return Metaflow's version."""
    python = METAFLOW_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {METAFLOW_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(METAFLOW_VENV)], check=True)
    if upgrade or package_version(python, "metaflow") is None:
        print(f"installing {' '.join(METAFLOW_PACKAGES)} into {METAFLOW_VENV} ...", flush=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--upgrade", *METAFLOW_PACKAGES]
        subprocess.run(pip, check=True)
    version = package_version(python, "metaflow")
    if version is None:
        raise RuntimeError(f"metaflow is not importable from {python}")
    return version


def compile_reelflow() -> None:
    """Write reelflow's bytecode, as installing a wheel does (pip compiles Metaflow's).

    An editable install under PYTHONDONTWRITEBYTECODE=1 (set on these machines) would otherwise
    compile every reelflow module from source on each start, which no user's install does.
    """
    source = REPO_DIR / "src" / "reelflow"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(source)], check=True)


def package_version(python: Path, package: str) -> str | None:
    """The installed version of ``package`` as seen by ``python``, None if it is not installed."""
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def network_isolation() -> tuple[str, ...]:
    """A command prefix that runs a flow with no network at all (a fresh net namespace)."""
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        raise RuntimeError(f"`unshare --net` does not work here: {probe.stderr.decode().strip()}")
    return ("unshare", "--net")
