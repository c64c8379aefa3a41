"""The chat example in a real browser: two headless chromium tabs (selenium) against the app served by uvicorn.

On one worker, and on two uvicorn processes sharing Redis (each tab talks to its own process, so every message
and notice crosses between them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from panther.utils import generate_secret_key
from tests._uvicorn import uvicorn_servers

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parent.parent
PASSWORD = 'correct horse battery'


@pytest.fixture(params=['one-worker', pytest.param('two-workers-with-redis', marks=pytest.mark.redis)])
def chat_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """The address of each uvicorn process serving examples/chat."""
    env = {
        'SECRET_KEY': generate_secret_key(),
        'PANTHER_DEV': '',
        'CHAT_DB_PATH': str(tmp_path / 'chat.pdb'),
        'MONGODB_URL': '',
        'REDIS_HOST': '',
    }
    count = 1
    if request.param == 'two-workers-with-redis':
        host, port = request.getfixturevalue('redis_address')
        env |= {'REDIS_HOST': host, 'REDIS_PORT': str(port)}
        count = 2
    with uvicorn_servers(REPO_ROOT, 'examples.chat.main', count=count, env=env) as servers:
        yield [f'http://127.0.0.1:{port}' for _, port in servers]


class Tab:
    """One browser tab with its own page (the chat keeps its tokens in the page's memory)."""

    def __init__(self, driver: Any, handle: str) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.handle = handle
        self.wait = WebDriverWait(driver, 10)

    def focus(self) -> Tab:
        self.driver.switch_to.window(self.handle)
        return self

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.focus().driver.find_element(By.CSS_SELECTOR, css)

    def until(self, condition: Any, message: str) -> None:
        self.focus().wait.until(lambda driver: condition(), message=message)

    def status(self) -> str:
        return str(self.find('#status').text)

    def enter(self, username: str, action: str) -> None:
        self.find('#username').send_keys(username)
        self.find('#password').send_keys(PASSWORD)
        self.find(f'#account button[data-action="{action}"]').click()
        self.until(lambda: self.status() == f'Logged in as {username}', f'{username}: {self.status()!r}')

    def join(self, room: str) -> None:
        field = self.find('#room')
        field.clear()
        field.send_keys(room)
        self.find('#join button').click()
        self.until(lambda: self.status() == f'In room {room}', f'joining {room}: {self.status()!r}')

    def say(self, text: str) -> None:
        self.find('#text').send_keys(text)
        self.find('#send button').click()

    def lines(self) -> list[str]:
        """Each line of the room as `user text` (a message, its time left out) or the notice's text."""
        items = self.focus().driver.find_elements('css selector', '#messages li')
        return [' '.join(str(part.text) for part in item.find_elements('css selector', 'span')) for item in items]

    def sees(self, line: str) -> None:
        self.until(lambda: line in self.lines(), f'{line!r} not in {self.lines()}')

    def members(self) -> list[str]:
        return sorted(str(item.text) for item in self.focus().driver.find_elements('css selector', '#members li'))


def _tabs(browser: Any, urls: list[str]) -> tuple[Tab, Tab]:
    browser.get(urls[0])
    first = Tab(browser, browser.current_window_handle)
    browser.switch_to.new_window('tab')
    browser.get(urls[-1])
    second = Tab(browser, browser.current_window_handle)
    return first, second


def test_two_people_chat_in_one_room(browser: Any, chat_urls: list[str]) -> None:
    room = f'r{uuid.uuid4().hex[:12]}'
    alice, bob = _tabs(browser, chat_urls)
    try:
        alice.enter('alice', 'signup')
        alice.join(room)
        bob.enter('bob', 'signup')
        bob.join(room)
        alice.sees('bob joined')
        assert alice.members() == ['alice', 'bob']
        bob.until(lambda: bob.members() == ['alice', 'bob'], f'bob sees {bob.members()}')

        alice.say('hello bob')
        bob.sees('alice hello bob')
        bob.say('<b>hi</b> <img src=x onerror="document.title=1">alice')
        alice.sees('bob <b>hi</b> <img src=x onerror="document.title=1">alice')
        # Shown as text: the message made no element of its own.
        assert alice.find('#messages').get_attribute('innerHTML').count('<b>') == 0
        assert alice.focus().driver.find_elements('css selector', '#messages img') == []
        assert alice.driver.title == 'Panther chat'

        # Bob reloads: the page forgets its tokens; he logs in again and gets the room's history.
        bob.focus().driver.refresh()
        alice.sees('bob left')
        bob.enter('bob', 'login')
        bob.join(room)
        bob.sees('alice hello bob')
        bob.sees('bob <b>hi</b> <img src=x onerror="document.title=1">alice')
        alice.until(lambda: alice.lines().count('bob joined') == 2, f'alice sees {alice.lines()}')
        bob.say('back again')
        alice.sees('bob back again')
    finally:
        bob.focus().driver.close()
        browser.switch_to.window(alice.handle)
        browser.get('about:blank')
