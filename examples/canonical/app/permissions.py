"""Permissions: async callables that get the request and grant access only by returning a truthy value."""

from examples.canonical.app.models import Note
from panther.permissions import BasePermission
from panther.request import Request


class IsNoteOwner(BasePermission):
    """Only the owner may read, change or delete a note.

    An id that does not exist is a 404 (`find_one_or_raise`); an existing note of someone else is a 403
    (the permission returns False). Runs after authentication, so `request.user` is already set.
    """

    async def __call__(self, request: Request) -> bool:
        if request.user is None:
            return False
        note = await Note.find_one_or_raise(id=request.path_variables['note_id'])
        return note.owner.id == request.user.id
