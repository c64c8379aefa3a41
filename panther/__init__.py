"""Panther: a fast, secure, batteries-included async web framework."""

from panther.main import Panther

__version__ = '5.3.0'

__all__ = ['Panther', '__version__', 'version']


def version() -> str:
    return __version__
