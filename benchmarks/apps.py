"""The apps under test: a hand-written raw ASGI app (the baseline) and the same endpoints on Panther."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

ROUTE_COUNT = 100


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


# Raw ASGI: the least work that still answers each scenario correctly.

_JSON_HEADERS = [(b'content-type', b'application/json')]


async def _send_json(send: Any, status: int, data: Any) -> None:
    body = orjson.dumps(data)
    await send(
        {
            'type': 'http.response.start',
            'status': status,
            'headers': [(b'content-length', str(len(body)).encode()), *_JSON_HEADERS],
        }
    )
    await send({'type': 'http.response.body', 'body': body})


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope['type'] != 'http':
        return
    parts = scope['path'].strip('/').split('/')
    method = scope['method']
    if parts == ['hello'] and method == 'GET':
        await _send_json(send, 200, {'message': 'Hello World'})
        return
    if parts[0] == 'items':
        if len(parts) == 2 and method == 'GET':
            try:
                item_id = int(parts[1])
            except ValueError:
                await _send_json(send, 400, {'detail': 'bad id'})
                return
            await _send_json(send, 200, {'id': item_id})
            return
        if len(parts) == 1 and method == 'POST':
            body = b''
            while True:
                message = await receive()
                body += message.get('body', b'')
                if not message.get('more_body'):
                    break
            item = Item.model_validate_json(body)
            await _send_json(send, 201, item.model_dump())
            return
    if len(parts) == 2 and parts[0].startswith('r') and parts[0][1:].isdigit():
        await _send_json(send, 200, {'route': int(parts[0][1:]), 'id': parts[1]})
        return
    await _send_json(send, 404, {'detail': 'Not Found'})


def build_panther_app(middlewares: list[Any] | None = None) -> Any:
    """The Panther app; `middlewares` become its `MIDDLEWARES` setting."""
    import sys
    import types

    from panther import Panther
    from panther.app import API
    from panther.request import Request
    from panther.response import Response

    @API(methods=['GET'])
    async def hello() -> dict[str, str]:
        return {'message': 'Hello World'}

    @API(methods=['GET'])
    async def get_item(item_id: int) -> dict[str, int]:
        return {'id': item_id}

    @API(methods=['POST'], input_model=Item)
    async def create_item(request: Request) -> Response:
        return Response(data=request.validated_data, status_code=201)

    urls: dict[str, Any] = {'hello': hello, 'items/<item_id>': get_item, 'items': create_item}
    for number in range(ROUTE_COUNT):

        def make(n: int) -> Any:
            @API(methods=['GET'])
            async def route(object_id: str) -> dict[str, Any]:
                return {'route': n, 'id': object_id}

            return route

        urls[f'r{number}/<object_id>'] = make(number)
    settings = types.ModuleType(f'{__name__}_settings_{len(middlewares or ())}')
    settings.MIDDLEWARES = list(middlewares or [])  # type: ignore[attr-defined]
    sys.modules[settings.__name__] = settings
    return Panther(__name__, configs=settings.__name__, urls=urls)


def pass_through_middleware() -> type:
    """A custom middleware that only passes the request on (what every middleware costs at least)."""
    from panther.middlewares import HTTPMiddleware

    class PassThrough(HTTPMiddleware):
        async def __call__(self, request: Any) -> Any:
            return await self.dispatch(request=request)

    return PassThrough
