"""The one error of a deployment's definition, shared by its modules."""

from __future__ import annotations


class SettingsError(ValueError):
    """A context value is unknown, malformed, or the sizing does not fit the database."""
