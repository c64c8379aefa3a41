"""The admin panel in a real browser: headless chromium (selenium) against the app served by uvicorn."""

from __future__ import annotations

import os
import struct
import textwrap
import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests._uvicorn import uvicorn_servers

pytestmark = [pytest.mark.browser, pytest.mark.slow]

APP = """
import datetime as dt
import enum
import os
from typing import Literal

from pydantic import BaseModel, Field

import panther.panel.urls
from panther import Panther
from panther.db import Model
from panther.db.models import BaseUser
from panther.events import Event
from panther.file_handler import Image
from panther.panel import create_admin, register
from panther.utils import generate_secret_key

SECRET_KEY = generate_secret_key()
if os.environ.get('PANEL_MONGODB_URL'):
    MONGODB_URL = os.environ['PANEL_MONGODB_URL']
    DATABASE = {'engine': {'class': 'panther.db.connections.MongoDBConnection', 'host': MONGODB_URL}}
else:
    DATABASE = {'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': 'panel.sqlite3'}}
MEDIA_ROOT = 'media'


class User(BaseUser):
    is_admin: bool = False


USER_MODEL = User


class Color(enum.Enum):
    RED = 'red'
    BLUE = 'blue'


class Address(BaseModel):
    city: str
    zip_code: int


class Tag(Model):
    name: str


class Gadget(Model):
    title: str = Field(min_length=1, max_length=100)
    stock: int = 0
    ratio: float = 1.5
    active: bool = False
    born: dt.date | None = None
    seen_at: dt.datetime | None = None
    color: Color = Color.RED
    size: Literal['s', 'm'] = 's'
    address: Address
    extra: dict = Field(default_factory=dict)
    owner: User | None = None
    tags: list[Tag] = Field(default_factory=list)
    picture: Image | None = None


register(Gadget, list_display=['title', 'stock', 'active', 'color', 'owner'])


@Event.startup
async def seed():
    if await User.count():
        return
    await create_admin('admin', 'admin-pass')
    member = await User.insert_one(username='member')
    await member.set_password('member-pass')
    await Tag.insert_many([{'name': name} for name in ('red', 'green', 'blue')])
    await Gadget.insert_many(
        [
            {'title': f'Bulk {n}', 'stock': n, 'active': n % 2 == 0, 'address': {'city': 'Oslo', 'zip_code': n}}
            for n in range(6)
        ]
    )


app = Panther(__name__, configs=__name__, urls={'admin/': panther.panel.urls.url_routing})
"""


def png(width: int = 8, height: int = 8) -> bytes:
    """A valid RGB PNG (a browser decodes it, so the preview has a size)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))

    rows = b''.join(b'\x00' + b'\xd0\x40\x20' * width for _ in range(height))
    header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b'')


@pytest.fixture(scope='module', params=['sqlite', pytest.param('mongodb', marks=pytest.mark.mongodb)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp('panel_app')
    (directory / 'panel_app.py').write_text(textwrap.dedent(APP))
    env = {}
    database = f'panther_panel_browser_{uuid.uuid4().hex[:12]}'
    if request.param == 'mongodb':
        # The service itself is checked by the `mongodb` marker (tests/conftest.py).
        port = int(os.environ.get('PANTHER_TEST_MONGO_PORT', '27017'))
        env['PANEL_MONGODB_URL'] = f'mongodb://127.0.0.1:{port}/{database}'
    try:
        with uvicorn_servers(directory, 'panel_app', env=env) as servers:
            _, port = servers[0]
            yield f'http://127.0.0.1:{port}'
    finally:
        if request.param == 'mongodb':
            from pymongo import MongoClient

            with MongoClient(env['PANEL_MONGODB_URL']) as client:
                client.drop_database(database)


class Page:
    """The browser on the panel: navigation, forms and waiting for the next page."""

    def __init__(self, driver: Any, base: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.base, self.by = driver, base, By
        self.wait = WebDriverWait(driver, 10)

    def open(self, path: str) -> None:
        self.driver.get(f'{self.base}{path}')

    def find(self, css: str) -> Any:
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[Any]:
        return self.driver.find_elements(self.by.CSS_SELECTOR, css)

    def text(self) -> str:
        return self.find('body').text

    def navigating(self, action: Callable[[], Any]) -> None:
        """Run `action` (a click) and wait until the next page has replaced this one."""
        from selenium.common.exceptions import WebDriverException

        # A mark on the current page's window: gone once another document has loaded.
        self.driver.execute_script('window.panelTestMark = true')
        action()

        def next_page_loaded(driver: Any) -> bool:
            try:
                return bool(
                    driver.execute_script("return window.panelTestMark !== true && document.readyState === 'complete'")
                )
            except WebDriverException:
                return False  # asked while the page was being replaced

        self.wait.until(next_page_loaded)

    def submit(self, css: str = 'form.form button[type=submit]') -> None:
        button = self.find(css)
        self.navigating(button.click)

    def type(self, name: str, value: str) -> None:
        field = self.find(f'[name="{name}"]')
        field.clear()
        field.send_keys(value)

    def set_value(self, name: str, value: str) -> None:
        # Date and time inputs take keystrokes in a locale-dependent order: set them as the page's script would.
        self.driver.execute_script('arguments[0].value = arguments[1]', self.find(f'[name="{name}"]'), value)

    def choose(self, name: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.find(f'select[name="{name}"]')).select_by_value(value)

    def login(self, username: str, password: str) -> None:
        self.open('/admin/login/')
        self.type('username', username)
        self.type('password', password)
        self.submit('form.form button[type=submit]')


@pytest.fixture
def page(browser: Any, server: str) -> Page:
    browser.set_window_size(1280, 900)
    browser.get(f'{server}/admin/login/')
    browser.delete_all_cookies()
    return Page(browser, server)


@pytest.fixture
def admin(page: Page) -> Page:
    page.login('admin', 'admin-pass')
    return page


def gadget_row_titles(page: Page) -> list[str]:
    return [row.find_elements(page.by.CSS_SELECTOR, 'td')[2].text for row in page.find_all('form#bulk tbody tr')]


def test_login_shows_every_model_with_its_count(page):
    page.open('/admin/')
    assert page.driver.current_url.endswith('/admin/login/?redirect_to=/admin/')
    page.type('username', 'admin')
    page.type('password', 'admin-pass')
    page.submit()
    assert page.driver.current_url.endswith('/admin/')
    assert page.find('td[data-count="Tag"]').text.isdigit()
    assert {link.text for link in page.find_all('table.list a')} >= {'User', 'Tag', 'Gadget'}


def test_a_user_who_is_not_staff_is_refused(page):
    page.login('member', 'member-pass')
    assert '/admin/login/' in page.driver.current_url
    assert 'may not use the admin panel' in page.find('.alert.error').text
    page.open('/admin/')
    assert '/admin/login/' in page.driver.current_url


def test_create_edit_and_delete_a_document_of_every_field_kind_with_an_image(admin, tmp_path):
    picture = tmp_path / 'cover.png'
    picture.write_bytes(png())
    admin.open('/admin/')
    gadget_link = next(link for link in admin.find_all('table.list a') if link.text == 'Gadget')
    admin.navigating(gadget_link.click)
    admin.navigating(admin.find('a.button[href$="create/"]').click)

    admin.type('title', 'Browser lamp')
    admin.type('stock', '7')
    admin.type('ratio', '0.25')
    admin.find('[name="active"]').click()
    admin.set_value('born', '2021-03-04')
    admin.set_value('seen_at', '2024-05-06T07:08:09')
    admin.choose('color', 'blue')
    admin.choose('size', 'm')
    admin.type('address.city', 'Bergen')
    admin.type('address.zip_code', '5003')
    admin.type('extra', '{"shelf": [1, 2]}')
    owner = admin.find('select[name="owner"] option:not([value=""])').get_attribute('value')
    admin.choose('owner', owner)
    admin.find('.kind-references input[type=checkbox]').click()
    admin.find('[name="picture"]').send_keys(str(picture))
    admin.wait.until(lambda _: admin.find('img.preview.new').get_attribute('hidden') is None)
    admin.submit()

    assert 'Created.' in admin.text()
    assert admin.find('[name="title"]').get_attribute('value') == 'Browser lamp'
    assert admin.find('[name="stock"]').get_attribute('value') == '7'
    assert admin.find('[name="active"]').is_selected()
    assert admin.find('[name="born"]').get_attribute('value') == '2021-03-04'
    assert admin.find('[name="seen_at"]').get_attribute('value') == '2024-05-06T07:08:09'
    assert admin.find('select[name="color"] option:checked').get_attribute('value') == 'blue'
    assert admin.find('select[name="owner"] option:checked').get_attribute('value') == owner
    assert len(admin.find_all('.kind-references input:checked')) == 1
    preview = admin.find('.current-file img.preview')
    admin.wait.until(lambda _: admin.driver.execute_script('return arguments[0].naturalWidth', preview) == 8)

    admin.type('title', 'Edited lamp')
    admin.find('[name="active"]').click()
    admin.type('extra', '{"shelf": []}')
    admin.submit()
    assert 'Saved.' in admin.text()
    assert admin.find('[name="title"]').get_attribute('value') == 'Edited lamp'
    assert not admin.find('[name="active"]').is_selected()

    admin.navigating(admin.find('a.button.danger').click)
    assert 'Delete 1 Gadget?' in admin.text()
    admin.submit('button.danger')
    assert 'Deleted 1 document.' in admin.text()
    assert 'Edited lamp' not in admin.text()


def test_invalid_input_is_reported_next_to_the_field(admin):
    admin.open('/admin/')
    gadget = next(link.get_attribute('href') for link in admin.find_all('table.list a') if link.text == 'Gadget')
    admin.driver.get(f'{gadget}create/')
    admin.type('title', 'Broken')
    admin.type('address.city', 'X')
    admin.set_value('address.zip_code', '')
    admin.submit()
    assert 'nothing was saved' in admin.text()
    assert admin.find('[data-field="address.zip_code"] .errors').text == 'This field is required'


def test_search_filter_and_bulk_delete(admin):
    admin.open('/admin/')
    gadget = next(link.get_attribute('href') for link in admin.find_all('table.list a') if link.text == 'Gadget')
    admin.driver.get(gadget)
    admin.type('q', 'bulk')
    admin.submit('#filters button')
    assert sorted(gadget_row_titles(admin)) == [f'Bulk {n}' for n in range(6)]
    admin.navigating(lambda: admin.choose('f_active', 'true'))  # filters apply on change
    assert sorted(gadget_row_titles(admin)) == ['Bulk 0', 'Bulk 2', 'Bulk 4']

    admin.find('[data-select-all]').click()
    assert all(box.is_selected() for box in admin.find_all('input[name="ids"]'))
    admin.submit('form#bulk button.danger')
    assert 'Delete 3 Gadget documents?' in admin.text()
    admin.submit('button.danger')
    assert 'Deleted 3 documents.' in admin.text()
    admin.type('q', 'bulk')
    admin.submit('#filters button')
    assert sorted(gadget_row_titles(admin)) == ['Bulk 1', 'Bulk 3', 'Bulk 5']


def test_a_form_posted_without_its_csrf_token_is_refused(admin):
    admin.open('/admin/')
    tag = next(link.get_attribute('href') for link in admin.find_all('table.list a') if link.text == 'Tag')
    admin.driver.get(f'{tag}create/')
    admin.type('name', 'forged')
    admin.driver.execute_script('document.querySelector(\'form.form input[name="csrf_token"]\').remove()')
    admin.submit()
    assert 'CSRF' in admin.find('.alert.error').text
    admin.driver.get(f'{tag}?q=forged')
    assert 'forged' not in admin.find('form#bulk').text


def test_a_stored_script_is_shown_as_text(admin):
    script = '<script>document.title="pwned"</script><img src=x onerror="document.title=1">'
    admin.open('/admin/')
    tag = next(link.get_attribute('href') for link in admin.find_all('table.list a') if link.text == 'Tag')
    admin.driver.get(f'{tag}create/')
    admin.type('name', script)
    admin.submit()
    assert admin.find('[name="name"]').get_attribute('value') == script
    admin.driver.get(tag)
    assert script in admin.text()
    assert admin.driver.title != 'pwned'
    assert admin.find_all('table.list img') == []


def test_pages_fit_a_phone_screen(admin):
    admin.driver.set_window_size(390, 844)
    admin.open('/admin/')
    gadget = next(link.get_attribute('href') for link in admin.find_all('table.list a') if link.text == 'Gadget')
    for url in (gadget, f'{gadget}create/'):
        admin.driver.get(url)
        overflow = admin.driver.execute_script('return document.documentElement.scrollWidth - window.innerWidth')
        assert overflow <= 0, url
