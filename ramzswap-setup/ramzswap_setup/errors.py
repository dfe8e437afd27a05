"""The two kinds of failure the helper reports, each with its exit status.

Both carry a one-line message; the CLI prints it and exits, never a traceback.
"""


class ConfigError(Exception):
    """A bad option, kernel command line entry or config file value: exit 2, nothing changed."""

    exit_status = 2


class SetupError(Exception):
    """Something failed while acting on the running system: exit 1."""

    exit_status = 1
