"""Entry point: `panther run examples.chat.main:app` from the repository root.

Settings come from core/configs.py, routes from core/urls.py (named there by `URLs`).
"""

import logging

from examples.chat.app import rooms
from panther import Panther
from panther.events import Event

logger = logging.getLogger('panther')


@Event.startup
async def on_startup() -> None:
    where = 'Redis (shared by every worker)' if rooms.shared() else 'this process only (run a single worker)'
    logger.info(f'Chat started; room membership lives in {where}')


app = Panther(__name__, configs='examples.chat.core.configs')
