"""sovscan's one exception base and its per-stage subclasses; the CLI turns them into one line."""

from __future__ import annotations


class SovscanError(Exception):
    """An error the user can act on. Its message is one line naming the file, key or value."""


class ConfigError(SovscanError):
    """The inventory file or a command-line value is invalid."""


class RuleError(SovscanError):
    """A rule file or the frameworks file is invalid."""


class ProbeError(SovscanError):
    """A probe cannot start at all (per-scope failures become Gap values instead)."""


class ResolveError(SovscanError):
    """The offline knowledge base is missing or invalid."""


class ReportError(SovscanError):
    """A report cannot be rendered or written."""
