"""Entry point: `panther run examples.blog.main:app` from the repository root.

Settings come from core/configs.py, routes from core/urls.py (named there by `URLs`).
"""

import logging

from panther import Panther
from panther.configs import config
from panther.events import Event

logger = logging.getLogger('panther')


@Event.startup
async def check_upload_dir() -> None:
    # `FileResponse` only serves files below the directory the app runs from (`config.BASE_DIR`): covers kept
    # anywhere else could be uploaded but never shown.
    if not config.UPLOAD_DIR.is_relative_to(config.BASE_DIR.resolve()):
        logger.warning(
            f'Covers are written to {config.UPLOAD_DIR}, outside {config.BASE_DIR.resolve()}: '
            'they cannot be served. Set BLOG_UPLOAD_DIR to a directory below the working directory.'
        )
    logger.info(f'Blog started; covers are kept in {config.UPLOAD_DIR}')


app = Panther(__name__, configs='examples.blog.core.configs')
