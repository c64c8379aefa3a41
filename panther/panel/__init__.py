"""The admin panel: a back office for every model in `config.MODELS`.

Mount it with `url_routing = {'admin/': panther.panel.urls.url_routing, ...}`. Only staff users enter: users whose
boolean `is_admin` field is true, or whom `ADMIN_PERMISSION` (a callable or its dotted path, given the user)
accepts. `register()` / `hide()` customise how models appear; `create_admin()` makes the first staff user.
See docs/admin.md.
"""

from __future__ import annotations

from typing import Any

from panther.panel.registry import ModelAdmin, hide, register

__all__ = ['ModelAdmin', 'create_admin', 'hide', 'register']


async def create_admin(username: str, password: str, **fields: Any) -> Any:
    """Create a staff user of `config.USER_MODEL` (its `is_admin` field set) with a hashed password.

    Raises `PantherError` when there is no user model, when the model has no `is_admin` field and no
    `ADMIN_PERMISSION` hook is configured (such a user could not enter the panel), or when the username is taken.
    From synchronous code (a CLI): `panther.utils.run_coroutine(create_admin('root', password))`.
    """
    from panther.configs import config
    from panther.exceptions import PantherError

    user_model: Any = config.USER_MODEL
    if user_model is None:
        raise PantherError('`USER_MODEL` is not configured')
    if not username or not password:
        raise PantherError('A username and a password are required')
    has_flag = 'is_admin' in user_model.model_fields
    if not has_flag and config.ADMIN_PERMISSION is None:
        raise PantherError(
            f'{user_model.__name__} has no `is_admin` field and `ADMIN_PERMISSION` is not set: '
            'add `is_admin: bool = False` to the user model or configure ADMIN_PERMISSION'
        )
    username_field = getattr(user_model, 'USERNAME_FIELD', 'username')
    if await user_model.exists({username_field: username}):
        raise PantherError(f'A user with {username_field}={username!r} already exists')
    if has_flag:
        fields['is_admin'] = True
    user = await user_model.insert_one({username_field: username, **fields})
    await user.set_password(password)
    return user
