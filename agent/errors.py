"""Errors the agent raises on purpose.

Each subclass also inherits the matching built-in, so callers may catch either
(`except ConfigError` or `except ValueError`).
"""


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class ConfigError(AgentError, ValueError):
    """A configuration file or document is invalid; the message names the dotted key."""


class CommandError(AgentError, ValueError):
    """A command (MQTT, control socket or CLI) is malformed or cannot be carried out."""


class StorageError(AgentError, OSError):
    """The outbox database cannot be opened or written."""


class ControlError(AgentError, ConnectionError):
    """The running daemon cannot be reached over its control socket."""


class HardwareError(AgentError, RuntimeError):
    """A device (GPIO, serial port, camera) cannot be used."""


class ModelError(AgentError, RuntimeError):
    """A model file is missing, does not match the manifest, or cannot be loaded."""
