from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import pytz
from hypothesis import given
from hypothesis import strategies as st

from panther.configs import config
from panther.utils import (
    URANDOM_SIZE,
    Singleton,
    floor_datetime,
    generate_hash_value_from_string,
    generate_secret_key,
    load_env,
    round_datetime,
    run_coroutine,
    scrypt,
    timezone_now,
)

# --- round_datetime -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('value', 'delta', 'expected'),
    [
        (datetime(1997, 12, 25, 12, 10, 30), timedelta(seconds=20), datetime(1997, 12, 25, 12, 10, 40)),
        (datetime(1997, 12, 25, 12, 10, 35), timedelta(seconds=20), datetime(1997, 12, 25, 12, 10, 40)),
        (datetime(1997, 12, 25, 12, 15, 30), timedelta(minutes=20), datetime(1997, 12, 25, 12, 20)),
        (datetime(1997, 12, 25, 12, 10, 30), timedelta(minutes=20), datetime(1997, 12, 25, 12, 20)),
        (datetime(1997, 12, 25, 12, 10, 30), timedelta(hours=5), datetime(1997, 12, 25, 12, 0)),
        (datetime(1997, 12, 25, 10, 10, 30), timedelta(hours=5), datetime(1997, 12, 25, 12, 0)),
        (datetime(1997, 12, 25, 10, 10), timedelta(days=5), datetime(1997, 12, 23)),
        (datetime(1997, 12, 22, 10, 10), timedelta(days=5), datetime(1997, 12, 23)),
    ],
)
def test_round_datetime_spec_examples(value: datetime, delta: timedelta, expected: datetime) -> None:
    assert round_datetime(value, delta) == expected


def test_round_datetime_ties_go_to_even_multiple() -> None:
    # 12:10:30 lies exactly between 12:10:20 and 12:10:40; like Python's round(), the even multiple wins.
    value = datetime(2024, 1, 1, 12, 10, 30)
    delta = timedelta(seconds=20)
    expected = datetime.min + round((value - datetime.min) / delta) * delta
    assert round_datetime(value, delta) == expected
    # 10 s windows: 12:10:05 is a tie between 12:10:00 and 12:10:10.
    tie = datetime(2024, 1, 1, 12, 10, 5)
    ten = timedelta(seconds=10)
    assert round_datetime(tie, ten) == datetime.min + round((tie - datetime.min) / ten) * ten
    assert round_datetime(tie, ten) == datetime(2024, 1, 1, 12, 10, 0)


def test_round_datetime_keeps_tzinfo() -> None:
    value = datetime(2024, 1, 1, 12, 10, 35, tzinfo=pytz.UTC)
    assert round_datetime(value, timedelta(seconds=20)) == datetime(2024, 1, 1, 12, 10, 40, tzinfo=pytz.UTC)


@pytest.mark.parametrize('delta', [timedelta(0), timedelta(seconds=-1)])
def test_round_and_floor_reject_non_positive_delta(delta: timedelta) -> None:
    with pytest.raises(ValueError, match='positive'):
        round_datetime(datetime(2024, 1, 1), delta)
    with pytest.raises(ValueError, match='positive'):
        floor_datetime(datetime(2024, 1, 1), delta)


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9000, 1, 1)),
    st.integers(min_value=1, max_value=10**12).map(lambda us: timedelta(microseconds=us)),
)
def test_round_datetime_is_nearest_multiple(value: datetime, delta: timedelta) -> None:
    rounded = round_datetime(value, delta)
    assert (rounded - datetime.min) % delta == timedelta(0)
    assert abs(rounded - value) * 2 <= delta


# --- floor_datetime -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ('value', 'delta', 'expected'),
    [
        (datetime(2024, 1, 1, 12, 10, 30), timedelta(seconds=20), datetime(2024, 1, 1, 12, 10, 20)),
        (datetime(2024, 1, 1, 12, 10, 39, 999999), timedelta(seconds=20), datetime(2024, 1, 1, 12, 10, 20)),
        (datetime(2024, 1, 1, 12, 10, 40), timedelta(seconds=20), datetime(2024, 1, 1, 12, 10, 40)),
        (datetime(2024, 1, 1, 12, 59, 59), timedelta(minutes=1), datetime(2024, 1, 1, 12, 59)),
        (datetime(2024, 1, 1, 12, 15, 30), timedelta(minutes=20), datetime(2024, 1, 1, 12, 0)),
        (datetime(1997, 12, 25, 10, 10, 30), timedelta(hours=5), datetime(1997, 12, 25, 7, 0)),
        (datetime(1997, 12, 25, 10, 10), timedelta(days=5), datetime(1997, 12, 23)),
        (datetime(1997, 12, 22, 10, 10), timedelta(days=5), datetime(1997, 12, 18)),
    ],
)
def test_floor_datetime(value: datetime, delta: timedelta, expected: datetime) -> None:
    assert floor_datetime(value, delta) == expected


def test_floor_datetime_keeps_tzinfo() -> None:
    tz = pytz.timezone('Asia/Tehran')
    value = tz.localize(datetime(2024, 1, 1, 12, 10, 35))
    floored = floor_datetime(value, timedelta(minutes=1))
    assert floored.tzinfo is value.tzinfo
    assert floored.replace(tzinfo=None) == datetime(2024, 1, 1, 12, 10)


@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9000, 1, 1)),
    st.integers(min_value=1, max_value=10**12).map(lambda us: timedelta(microseconds=us)),
)
def test_floor_datetime_is_window_start(value: datetime, delta: timedelta) -> None:
    start = floor_datetime(value, delta)
    assert start <= value < start + delta
    assert (start - datetime.min) % delta == timedelta(0)


# --- load_env -------------------------------------------------------------------------------------------------


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in ('PANTHER_T_NAME', 'PANTHER_T_DEBUG', 'PANTHER_T_OFF', 'PANTHER_T_Q1', 'PANTHER_T_Q2', 'PANTHER_T_EQ'):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_load_env_parses_values(tmp_path: Path, clean_environ: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / '.env'
    env_file.write_text(
        '# a comment\n'
        '\n'
        'PANTHER_T_NAME = Ali\n'
        'PANTHER_T_DEBUG=True\n'
        'PANTHER_T_OFF = false\n'
        'PANTHER_T_Q1="double quoted"\n'
        "PANTHER_T_Q2='single quoted'\n"
        'PANTHER_T_EQ=a=b=c\n'
        'no equal sign here\n'
        '   # indented comment = ignored\n',
        encoding='utf-8',
    )
    # Reset `os.environ` afterwards even though load_env writes into it directly.
    for key in ('PANTHER_T_NAME', 'PANTHER_T_DEBUG', 'PANTHER_T_OFF', 'PANTHER_T_Q1', 'PANTHER_T_Q2', 'PANTHER_T_EQ'):
        clean_environ.setenv(key, 'placeholder')

    variables = load_env(env_file)

    assert variables == {
        'PANTHER_T_NAME': 'Ali',
        'PANTHER_T_DEBUG': True,
        'PANTHER_T_OFF': False,
        'PANTHER_T_Q1': 'double quoted',
        'PANTHER_T_Q2': 'single quoted',
        'PANTHER_T_EQ': 'a=b=c',
    }
    assert variables['PANTHER_T_DEBUG'] is True
    assert os.environ['PANTHER_T_NAME'] == 'Ali'
    assert os.environ['PANTHER_T_DEBUG'] == 'True'
    assert os.environ['PANTHER_T_OFF'] == 'false'
    assert os.environ['PANTHER_T_Q1'] == 'double quoted'


def test_load_env_accepts_str_path(tmp_path: Path, clean_environ: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / 'vars.env'
    env_file.write_text('PANTHER_T_NAME=x\n', encoding='utf-8')
    clean_environ.setenv('PANTHER_T_NAME', 'placeholder')
    assert load_env(str(env_file)) == {'PANTHER_T_NAME': 'x'}


def test_load_env_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / 'nope.env'
    with pytest.raises(ValueError) as excinfo:
        load_env(missing)
    assert str(excinfo.value) == f'"{missing}" is not a file.'


def test_load_env_none() -> None:
    with pytest.raises(ValueError) as excinfo:
        load_env(None)
    assert str(excinfo.value) == '"None" is not a file.'


def test_load_env_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as excinfo:
        load_env(tmp_path)
    assert str(excinfo.value) == f'"{tmp_path}" is not a file.'


# --- secrets and hashing ----------------------------------------------------------------------------------------


def test_generate_secret_key() -> None:
    key = generate_secret_key()
    assert isinstance(key, str)
    assert len(key) == 44
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert generate_secret_key() != key


def test_generate_secret_key_is_a_fernet_key() -> None:
    fernet = pytest.importorskip('cryptography.fernet')
    token = fernet.Fernet(generate_secret_key().encode()).encrypt(b'data')
    assert token


def test_generate_hash_value_from_string() -> None:
    assert generate_hash_value_from_string('hello') == hashlib.sha256(b'hello').hexdigest()
    assert generate_hash_value_from_string('hello') == generate_hash_value_from_string('hello')
    assert generate_hash_value_from_string('hello') != generate_hash_value_from_string('hello!')
    assert len(generate_hash_value_from_string('こんにちは')) == 64


def test_urandom_size() -> None:
    assert URANDOM_SIZE == 16


def test_scrypt_raw_key() -> None:
    salt = bytes(range(URANDOM_SIZE))
    key = scrypt('secret', salt)
    assert isinstance(key, bytes)
    assert len(key) == 64
    expected = hashlib.scrypt(b'secret', salt=salt, n=16384, r=8, p=10, dklen=64, maxmem=64 * 1024 * 1024)
    assert key == expected
    assert scrypt(b'secret', salt) == key


def test_scrypt_digest_is_md5_of_key() -> None:
    salt = os.urandom(URANDOM_SIZE)
    digest = scrypt('secret', salt, digest=True)
    assert isinstance(digest, str)
    assert len(digest) == 32
    assert digest == hashlib.md5(scrypt('secret', salt)).hexdigest()
    # The stored password format: 32 hex chars of salt + 32 hex chars of digest.
    assert len(salt.hex() + digest) == 64
    assert scrypt('other', salt, digest=True) != digest
    assert scrypt('secret', os.urandom(URANDOM_SIZE), digest=True) != digest


# --- Singleton --------------------------------------------------------------------------------------------------


def test_singleton_one_instance_per_class_and_init_reruns() -> None:
    class Counter(Singleton):
        def __init__(self, value: int = 0) -> None:
            self.value = value

    class Other(Singleton):
        pass

    first = Counter(1)
    second = Counter(2)
    assert first is second
    # __init__ runs every time, so the later call wins.
    assert first.value == 2
    assert Singleton._instances[Counter] is first
    assert Other() is Other()
    assert Other() is not first


# --- timezone_now ---------------------------------------------------------------------------------------------


def test_timezone_now_default_utc() -> None:
    now = timezone_now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(pytz.UTC)) < timedelta(seconds=5)


def test_timezone_now_follows_config() -> None:
    config.TIMEZONE = 'Asia/Tehran'
    now = timezone_now()
    assert str(now.tzinfo) == 'Asia/Tehran'
    assert abs(now - datetime.now(pytz.UTC)) < timedelta(seconds=5)


# --- run_coroutine --------------------------------------------------------------------------------------------


async def _double(value: int) -> int:
    await asyncio.sleep(0)
    return value * 2


async def _fail() -> None:
    await asyncio.sleep(0)
    raise KeyError('boom')


def test_run_coroutine_without_running_loop() -> None:
    assert run_coroutine(_double(21)) == 42


def test_run_coroutine_propagates_errors_without_loop() -> None:
    with pytest.raises(KeyError, match='boom'):
        run_coroutine(_fail())


async def test_run_coroutine_inside_running_loop() -> None:
    outer_thread = threading.get_ident()
    seen: list[int] = []

    async def record() -> str:
        seen.append(threading.get_ident())
        return 'done'

    assert run_coroutine(record()) == 'done'
    assert run_coroutine(_double(5)) == 10
    # It had to use another thread: the caller's loop cannot be re-entered.
    assert seen and seen[0] != outer_thread


async def test_run_coroutine_propagates_errors_inside_running_loop() -> None:
    with pytest.raises(KeyError, match='boom'):
        run_coroutine(_fail())


def test_absolute_url_comes_from_base_url_not_from_the_host_header() -> None:
    from panther.request import Request
    from panther.utils import absolute_url

    async def receive() -> dict:
        return {'type': 'http.request', 'body': b''}

    async def send(message: dict) -> None:
        return None

    scope = {'type': 'http', 'method': 'GET', 'path': '/', 'scheme': 'https', 'headers': [(b'host', b'evil.example')]}
    request = Request(scope, receive, send)
    # Development (no BASE_URL): the request's own scheme and Host.
    assert absolute_url('/posts/1/', request) == 'https://evil.example/posts/1/'
    with pytest.raises(ValueError, match='BASE_URL'):
        absolute_url('/posts/1/')
    config.BASE_URL = 'https://blog.example/'
    assert absolute_url('/posts/1/', request) == 'https://blog.example/posts/1/'
    assert absolute_url('feed/') == 'https://blog.example/feed/'
