"""Process state that compiled objects check: bumped whenever configuration that they depend on changes."""

from __future__ import annotations

config_version = 0


def bump() -> None:
    global config_version
    config_version += 1


def _register() -> None:
    from panther.configs import Config

    if bump not in Config._listeners:
        Config._listeners.append(bump)


_register()
