"""Endpoints whose annotations are strings (PEP 563), used by tests/test_app.py."""

from __future__ import annotations

from uuid import UUID

from panther.app import API, GenericAPI
from panther.request import Request


@API()
async def typed_function(request: Request, number: int, flag: bool, uid: UUID, ratio: float) -> dict:
    return {
        'path': request.path,
        'number': number,
        'flag': flag,
        'uid': str(uid),
        'ratio': ratio,
        'types': [type(number).__name__, type(flag).__name__, type(uid).__name__, type(ratio).__name__],
    }


class TypedClass(GenericAPI):
    async def get(self, req: Request, number: int) -> dict:
        return {'method': req.method, 'number': number, 'type': type(number).__name__}
