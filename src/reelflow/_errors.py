"""Every error reelflow shows a user, in one place.

Each is a :class:`ReelflowError` whose message is one sentence saying what is wrong and how to
fix it; the CLI prints that sentence (with the user's file and line where there is one) and exits
non-zero, instead of a traceback.
"""

from __future__ import annotations


class ReelflowError(Exception):
    """Base of every error reelflow raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class UsageError(ReelflowError):
    """The command line or an argument is malformed."""

    exit_code = 2


class ConfigError(ReelflowError):
    """The store configuration (REELFLOW_DB, REELFLOW_HOME, reelflow.toml) is unusable."""


# --- flows -------------------------------------------------------------------------------------


class FlowDefinitionError(ReelflowError):
    """A flow file cannot be loaded, or its graph is malformed."""


class ParameterError(ReelflowError):
    """A flow parameter is unknown, missing or of the wrong type."""

    exit_code = 2


class StepFailedError(ReelflowError):
    """A step raised (after its retries) and nothing caught it; ``error_type`` names what it
    raised."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message, file=file, line=line)
        self.error_type = error_type


class MergeArtifactsError(ReelflowError):
    """`merge_artifacts` met values that disagree across the join's inputs."""


class ExecutorError(ReelflowError):
    """The executor a run asked for cannot be had (Ray not installed, a cluster unreachable)."""


class RunInterruptedError(ReelflowError):
    """The run was stopped (Ctrl-C or SIGTERM); it can be resumed."""

    exit_code = 130


class ResumeError(ReelflowError):
    """A run cannot be resumed as asked."""


# --- store -------------------------------------------------------------------------------------


class StoreError(ReelflowError):
    """The artifact store or the metadata database failed."""


class ArtifactNotFoundError(StoreError, KeyError):
    """A task, run, flow or artifact that was asked for does not exist."""

    def __str__(self) -> str:
        return ReelflowError.__str__(self)


class CorruptObjectError(StoreError):
    """A stored object no longer matches its content hash."""


class SerializationError(StoreError):
    """A value a step set cannot be stored as an artifact."""


# --- data, models, benchmarks ------------------------------------------------------------------


class DataError(ReelflowError):
    """Interaction data is malformed, empty, or does not fit what was asked of it."""


class NotFittedError(ReelflowError):
    """A model was used before ``fit``."""


class ModelError(ReelflowError):
    """A model's parameters or its input are invalid."""


# --- guards and the registry -------------------------------------------------------------------


class GuardError(ReelflowError):
    """A guard cannot run on what it was given (a missing column, an empty reference, ...)."""


class GuardFailedError(ReelflowError):
    """A blocking guard failed: the step, the promotion or the monitor stops here."""


class RegistryError(ReelflowError):
    """A registry operation is invalid: an unknown model or version, a refused promotion."""


class PromotionRefusedError(RegistryError):
    """A promotion was refused because a blocking gate failed (nothing moved)."""


class SmokeCheckFailed(RegistryError):
    """A version to serve failed its smoke checks (load, answers, latency); nothing swapped."""
