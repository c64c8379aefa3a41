"""What a process keeps of the Redis Store (panther/_internal/near_state.py): absent revocation markers and
throttle counts taken in advance. Unit tests, then the Redis Store with two "processes" (two stores on separate
connections) sharing one real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from panther._internal.near_state import LEASE_FROM, LEASE_MAX, AbsentKeys, Leases, lease_size
from panther._internal.store import TRACKED_PREFIX, RedisStore, StoreUnavailableError
from tests._core_helpers import RoundTrips

# --- lease sizes and held counts -----------------------------------------------------------------------------


def test_small_limits_are_counted_one_request_at_a_time() -> None:
    assert [lease_size(limit) for limit in (1, 5, 60, LEASE_FROM - 1)] == [1, 1, 1, 1]
    assert lease_size(LEASE_FROM) == LEASE_FROM // 64
    assert lease_size(640) == 10
    assert lease_size(10**9) == LEASE_MAX


def test_held_counts_are_handed_out_in_order_then_run_out(clock: Any) -> None:
    leases = Leases()
    assert leases.take('k') is None
    leases.hold('k', 5, 7, ttl=10)
    assert 'k' in leases
    assert [leases.take('k') for _ in range(4)] == [5, 6, 7, None]
    assert 'k' not in leases


def test_held_counts_expire_with_their_window(clock: Any) -> None:
    leases = Leases()
    leases.hold('k', 1, 10, ttl=2)
    assert leases.take('k') == 1
    clock.advance(2)
    assert leases.take('k') is None
    assert len(leases) == 0


def test_held_counts_are_bounded_and_dropping_them_only_refuses_early() -> None:
    leases = Leases(size=2)
    for name in ('a', 'b', 'c'):
        leases.hold(name, 1, 3, ttl=60)
    assert len(leases) == 2
    assert leases.take('a') is None  # the oldest went: its next request asks Redis again
    assert leases.take('c') == 1


# --- absent keys ---------------------------------------------------------------------------------------------


def test_nothing_is_remembered_before_the_subscription_is_confirmed() -> None:
    absent = AbsentKeys()
    absent.remember('k', absent.generation)
    assert not absent.known_absent('k')
    absent.set_live(True)
    absent.remember('k', absent.generation)
    assert absent.known_absent('k')
    absent.set_live(False)  # subscription lost: everything goes
    assert not absent.known_absent('k')
    absent.set_live(True)
    assert not absent.known_absent('k')


def test_an_answer_that_crossed_an_invalidation_is_not_kept() -> None:
    absent = AbsentKeys()
    absent.set_live(True)
    started = absent.generation
    absent.invalidate('other')  # any write announced while the lookup was on its way
    absent.remember('k', started)
    assert not absent.known_absent('k')


def test_an_invalidated_key_is_forgotten(clock: Any) -> None:
    absent = AbsentKeys(ttl=5)
    absent.set_live(True)
    absent.remember('k', absent.generation)
    absent.invalidate('k')
    assert not absent.known_absent('k')
    absent.remember('k', absent.generation)
    clock.advance(5)  # the safety net: answers are reused for `ttl` seconds at most
    assert not absent.known_absent('k')


def test_absent_keys_are_bounded() -> None:
    absent = AbsentKeys(size=2)
    absent.set_live(True)
    for key in ('a', 'b', 'c'):
        absent.remember(key, absent.generation)
    assert len(absent) == 2
    assert not absent.known_absent('a')


# --- the Redis Store: two processes sharing Redis ------------------------------------------------------------


def _new_store(address: tuple[str, int]) -> RedisStore:
    from redis.asyncio import Redis

    host, port = address
    return RedisStore(Redis(host=host, port=port))


@pytest.fixture(params=['lean-connection', 'redis-py'])
async def stores(
    redis_address: tuple[str, int], request: pytest.FixtureRequest
) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two processes' stores; on the lean connection, or on redis-py as with TLS or RESP3 settings."""
    first, second = _new_store(redis_address), _new_store(redis_address)
    if request.param == 'redis-py':
        first.use_wire = second.use_wire = False
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _until_live(store: RedisStore) -> None:
    """Wait for the store's subscription to announced writes (started by its first revocation check)."""
    while not store.absent.live:
        await store.absent.changed.wait()


def _marker() -> str:
    return f'{TRACKED_PREFIX}{uuid.uuid4().hex}'  # Redis outlives a run: a key no run has used


async def _remembered_absent(store: RedisStore) -> str:
    """A new marker that `store` has seen absent while its subscription is live (so it answers from memory)."""
    marker = _marker()
    await store.exists(marker)  # starts the subscription
    await _until_live(store)
    await store.exists(marker)
    return marker


@pytest.mark.redis
async def test_a_revocation_written_by_another_process_reaches_this_one(
    stores: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = stores
    marker = _marker()
    assert await here.exists(marker) is False
    await _until_live(here)
    assert await here.exists(marker) is False  # asked Redis (the first answer came before the subscription)
    assert here.absent.known_absent(marker)  # now answered from memory

    change = here.absent.changed
    assert await there.incr(marker, ttl=60) == 1  # the other process revokes
    await change.wait()  # its announcement arrives
    assert not here.absent.known_absent(marker)
    assert await here.exists(marker) is True


@pytest.mark.redis
async def test_a_revocation_by_this_process_applies_at_once(stores: tuple[RedisStore, RedisStore]) -> None:
    here, _ = stores
    marker = await _remembered_absent(here)
    assert here.absent.known_absent(marker)
    await here.incr(marker, ttl=60)
    assert await here.exists(marker) is True  # no waiting for its own announcement
    # A marker set (not counted) is announced as well.
    other = _marker()
    await here.exists(other)
    assert here.absent.known_absent(other)
    await here.set(other, b'1', ttl=60)
    assert await here.exists(other) is True


@pytest.mark.redis
async def test_a_renewed_subscription_starts_from_nothing(stores: tuple[RedisStore, RedisStore]) -> None:
    here, there = stores
    marker = await _remembered_absent(here)
    assert here.absent.known_absent(marker)
    change = here.absent.changed
    # The server drops the subscriber (as it does when its output buffer overflows); redis-py subscribes again.
    await there.client.execute_command('CLIENT', 'KILL', 'TYPE', 'pubsub')  # type: ignore[no-untyped-call]
    await change.wait()  # the renewed subscription is confirmed: what was kept is gone
    assert here.absent.live
    assert not here.absent.known_absent(marker)
    await here.exists(marker)
    change = here.absent.changed
    await there.incr(marker, ttl=60)  # the renewed subscription hears it
    await change.wait()
    assert await here.exists(marker) is True


@pytest.mark.redis
async def test_a_subscription_that_cannot_be_renewed_stops_answers_from_memory(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    here, _ = stores
    marker = await _remembered_absent(here)
    assert here.absent.known_absent(marker)
    follower = here._follower
    assert follower is not None
    follower.cancel()  # however the follower ends, nothing is answered from memory afterwards
    await asyncio.gather(follower, return_exceptions=True)
    assert not here.absent.live
    assert not here.absent.known_absent(marker)


@pytest.mark.redis
async def test_an_outage_forgets_everything_kept(stores: tuple[RedisStore, RedisStore]) -> None:
    here, _ = stores
    marker = await _remembered_absent(here)
    counter = f'panther:throttle:test:{uuid.uuid4().hex}'
    assert await here.count_request(counter, 60, limit=10**6) == 1
    assert len(here.leases) == 1
    here._failed(ConnectionError('gone'))
    assert (here.absent.live, len(here.absent), len(here.leases)) == (False, 0, 0)
    with pytest.raises(StoreUnavailableError):
        await here.exists(marker)  # fails closed during the cool-down, never answered from memory


@pytest.mark.redis
async def test_large_limits_are_counted_in_leases_and_still_hold_across_processes(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    here, there = stores
    limit = 256  # a lease of 4
    counter = f'panther:throttle:test:{uuid.uuid4().hex}'
    admitted = refused = 0
    counts: list[int] = []
    # Requests alternate between the two processes, as a load balancer sends them.
    for number in range(2 * limit):
        store = here if number % 2 == 0 else there
        count = await store.count_request(counter, 60, limit)
        assert count is not None
        counts.append(count)
        if count <= limit:
            admitted += 1
        else:
            refused += 1
    assert admitted <= limit  # never more than the limit, all processes together
    assert admitted >= limit - 2 * (lease_size(limit) - 1)  # at most one unused lease per process
    assert len(set(counts[:admitted])) == admitted  # no count handed out twice
    raw = int(await here.client.get(counter))  # type: ignore[no-untyped-call]
    assert raw == limit + refused  # every refused request is counted too, one by one


@pytest.mark.redis
async def test_a_lease_needs_one_round_trip_for_several_requests(
    stores: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    here, _ = stores
    counter = f'panther:throttle:test:{uuid.uuid4().hex}'
    await here.count_request(counter, 60, limit=10**6)  # opens the connection
    trips = RoundTrips(monkeypatch)
    counts = [await here.count_request(counter, 60, limit=10**6) for _ in range(4 * LEASE_MAX)]
    assert counts == list(range(2, 2 + 4 * LEASE_MAX))
    assert trips.count == 4


@pytest.mark.redis
async def test_a_guard_seen_absent_is_not_asked_again_and_a_written_one_is(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    here, there = stores
    marker, counter = _marker(), f'panther:throttle:test:{uuid.uuid4().hex}'
    assert await here.count_request(counter, 60, 5, guard=marker) == 1
    await _until_live(here)
    assert await here.count_request(counter, 60, 5, guard=marker) == 2
    assert here.absent.known_absent(marker)
    change = here.absent.changed
    await there.incr(marker, ttl=60)
    await change.wait()
    assert await here.count_request(counter, 60, 5, guard=marker) is None  # revoked: refused, not counted
    assert await here.count_request(counter, 60, 5) == 3


@pytest.mark.redis
async def test_a_held_count_still_checks_a_session_not_seen_yet(stores: tuple[RedisStore, RedisStore]) -> None:
    here, there = stores
    counter = f'panther:throttle:test:{uuid.uuid4().hex}'
    first, revoked = _marker(), _marker()
    assert await here.count_request(counter, 60, 10**6, guard=first) == 1  # takes a lease
    assert len(here.leases) == 1
    await there.incr(revoked, ttl=60)  # a session revoked before this process ever saw it
    assert await here.count_request(counter, 60, 10**6, guard=revoked) is None  # a count is held, yet refused
    assert await here.count_request(counter, 60, 10**6, guard=first) == 2  # and the refused one was not counted


@pytest.mark.redis
async def test_no_follower_task_is_left_behind(redis_address: tuple[str, int]) -> None:
    store = _new_store(redis_address)
    await store.exists(_marker())
    follower = store._follower
    assert follower is not None
    await store.close()
    await asyncio.gather(follower, return_exceptions=True)
    assert follower.done() and store._follower is None


# --- two uvicorn workers sharing Redis ----------------------------------------------------------------------------

TWO_WORKER_APP = """
import os
from datetime import timedelta

from panther import Panther
from panther._internal.store import get_store
from panther.app import API
from panther.authentications import JWTAuthentication
from panther.configs import JWTConfig, config
from panther.permissions import IsAuthenticated
from panther.request import Request
from panther.throttling import Throttle

SECRET_KEY = 'two-worker-revocation-test-signing-key-0123456789'
REDIS = {'host': '127.0.0.1', 'port': int(os.environ['REDIS_PORT'])}


class User:
    def __init__(self, id: str) -> None:
        self.id = id

    @classmethod
    async def find_one(cls, id: str | None = None, **filters):
        return USERS.get(id)


USERS = {'1': User('1')}


@API()
async def login():
    return await JWTAuthentication.login(USERS['1'])


@API(auth=JWTAuthentication, permissions=[IsAuthenticated], throttling=Throttle(10_000, timedelta(minutes=1)))
async def me(request: Request):
    key = JWTAuthentication.revocation_key(request.user._auth_token)
    return {'id': request.user.id, 'remembered': get_store().absent.known_absent(key), 'pid': os.getpid()}


@API(auth=JWTAuthentication, permissions=[IsAuthenticated])
async def logout(request: Request):
    await JWTAuthentication.logout(request.user)
    return {'pid': os.getpid()}


app = Panther(__name__, configs=__name__, urls={'login': login, 'me': me, 'logout': logout})
config.USER_MODEL = User
config.JWT_CONFIG = JWTConfig(key=SECRET_KEY, life_time=3600)
"""


@pytest.mark.slow
@pytest.mark.redis
def test_a_logout_on_one_worker_reaches_a_worker_that_remembered_the_session(
    tmp_path: Any, redis_address: tuple[str, int]
) -> None:
    import time

    import httpx

    from tests._uvicorn import uvicorn_servers

    (tmp_path / 'revocation_app.py').write_text(TWO_WORKER_APP)
    env = {'REDIS_PORT': str(redis_address[1]), 'PANTHER_DEV': '1'}
    with uvicorn_servers(tmp_path, 'revocation_app', count=2, env=env) as [(_, port_a), (_, port_b)]:
        token = httpx.get(f'http://127.0.0.1:{port_a}/login', timeout=5).json()['access_token']
        bearer = {'Authorization': f'Bearer {token}'}
        # Worker A answers until it remembers the session as not revoked (its subscription is confirmed).
        deadline = time.monotonic() + 10
        while not (answer := httpx.get(f'http://127.0.0.1:{port_a}/me', headers=bearer, timeout=5).json())[
            'remembered'
        ]:
            assert answer['id'] == '1'
            assert time.monotonic() < deadline, 'worker A never answered from memory'
        pid_a = answer['pid']

        assert httpx.get(f'http://127.0.0.1:{port_b}/logout', headers=bearer, timeout=5).json()['pid'] != pid_a
        # Worker A hears of it through Redis: the session is refused there too (normally at once).
        deadline = time.monotonic() + 2
        while (refused := httpx.get(f'http://127.0.0.1:{port_a}/me', headers=bearer, timeout=5)).status_code == 200:
            assert time.monotonic() < deadline, 'worker A still serves a logged-out session'
        assert refused.status_code == 401
        assert 'Token has been revoked' in refused.headers['WWW-Authenticate']
