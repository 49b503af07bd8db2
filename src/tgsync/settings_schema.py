"""What a row of the settings table (:mod:`tgsync.settings`) is: a :class:`Setting`, its
name on every surface, and how the docs and the stack write its default.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting and its name on every surface (``None``: not on that surface).

    ``scope`` is ``mapping`` for settings each mapping may have (a key of
    ``TGSYNC_MAPPINGS``, the environment variable being the default of every mapping) or
    ``function`` for settings of the whole function. ``low``/``high`` are the bounds of
    numbers, ``choices`` the values of enumerations, as every surface must take them.
    ``metavar`` names what a flag takes, in its help (``SECONDS``, ``HOST[:PORT],...``).
    """

    key: str
    env: str
    help: str
    parse: Callable[[Any], Any]
    default: Any = None
    scope: str = "function"
    flag: str | None = None
    tag: str | None = None
    cfn: str | None = None
    cdk: str | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    #: The original Go function's name for it, still read.
    legacy_env: str | None = None
    #: The default as written in the docs and the stack (``None``: empty).
    shown_default: str | None = None
    #: What the flag's value is, as ``--help`` shows it (``None``: no flag, or a switch).
    metavar: str | None = None

    @property
    def mapping_key(self) -> str | None:
        """The key of a ``TGSYNC_MAPPINGS`` entry, for per-mapping settings."""
        return self.key if self.scope == "mapping" else None


def shown(item: Setting) -> str:
    """The default as the docs and the stack write it (empty: none)."""
    if item.shown_default is not None:
        return item.shown_default
    if item.default is None:
        return ""
    if isinstance(item.default, float) and item.default.is_integer():
        return str(int(item.default))
    return str(getattr(item.default, "value", item.default))
