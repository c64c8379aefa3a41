"""Entry point: `panther run examples.canonical.main:app` from the repository root.

Settings come from core/configs.py, routes from core/urls.py (named there by `URLs`).
"""

import logging

from examples.canonical.app import apis
from panther import Panther
from panther.events import Event
from panther.utils import timezone_now

# The `panther` logger is the one Panther() configures: console and logs/main.log.
logger = logging.getLogger('panther')


@Event.startup
async def on_startup() -> None:
    # Runs once per process, before the first request is served.
    apis.started_at['time'] = timezone_now()
    logger.info('Notes service started')


@Event.shutdown
async def on_shutdown() -> None:
    # Runs once when the server stops; Panther closes the database and Redis connections after it.
    logger.info('Notes service stopped')


app = Panther(__name__, configs='examples.canonical.core.configs')
