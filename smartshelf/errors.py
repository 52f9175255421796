"""Errors that reach the user as one line and exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (bad config, missing model): printed as one line, exit 2."""

    exit_code = 2


class ConfigError(UserError):
    """A config file that does not parse or validate; names the file, key path and value."""

    def __init__(self, file: str, key: str, value: object, problem: str) -> None:
        self.file = file
        self.key = key
        self.value = value
        self.problem = problem
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{file}: {key or '<root>'}: {problem} (got {shown})")


class ModelError(UserError):
    """A model file that is missing, truncated or not the shape the detector expects."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(f"model {path}: {problem}")
