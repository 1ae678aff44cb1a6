"""The exceptions the library raises; the CLI turns each into a one-line message."""


class AgentError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 1


class InputError(AgentError):
    """A dataset, class list, option or file given by the user is invalid."""

    exit_code = 2


class ModelUnavailableError(AgentError):
    """An encoder or LLM could not be loaded (missing weights, no network, bad path)."""

    exit_code = 2


class LLMError(AgentError):
    """An LLM call failed or returned a reply that could not be parsed."""


class StoreError(AgentError):
    """The history database is unreadable or has an unknown schema version."""
