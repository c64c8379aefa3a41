"""The smallest Panther app: one endpoint at `/`.

Run it from the repository root with `panther run examples.hello.main:app`.
"""

from panther import Panther
from panther.app import API


@API()
async def hello() -> dict[str, str]:
    return {'message': 'Hello from Panther'}


app = Panther(__name__, configs=__name__, urls={'': hello})
