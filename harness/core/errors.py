"""The harness's own exceptions: the CLI catches HarnessError and prints one line."""


class HarnessError(Exception):
    """Base class: every error the harness expects and can explain."""


class RegistryError(HarnessError):
    """apps/variants.toml or harness/plan/servers.toml is malformed."""


class StackError(HarnessError):
    """A stack id or combination that cannot run (for example an ASGI app on a WSGI server)."""


class ScenarioError(HarnessError):
    """A scenario file that fails validation; the message names file, key path and problem."""


class ServerStartError(HarnessError):
    """A server (or the upstream service) did not become healthy; carries its log tail."""


class ContractError(HarnessError):
    """A server answered, but the quick contract checks found ERROR problems."""


class LoadError(HarnessError):
    """Locust failed or produced no usable per-request records."""


class ResultsError(HarnessError):
    """A results directory that cannot be found or read."""


class UnwritableError(HarnessError):
    """A result file could not be written (disk full, read-only, no permission): the run
    stops, every finished window kept, to be finished with --resume once it can write."""


class Interrupted(BaseException):
    """The run was stopped by SIGINT or SIGTERM; finished cells are kept.

    A BaseException, like KeyboardInterrupt: the handler raises it wherever the harness
    happens to be, often inside code that catches Exception or HarnessError to record a
    failure (a contract check, the wrk cross-check), which must not turn Ctrl-C into a
    failed cell and carry on."""
