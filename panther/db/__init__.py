"""Models and queries on the embedded SQLite engine or MongoDB."""

from panther.db.models import Model

__all__ = ['Model']
