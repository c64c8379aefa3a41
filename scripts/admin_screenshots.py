"""Take the screenshots of docs/admin.md with headless chromium (the apt packages the browser tests use).

Run from the repository root: `.venv/bin/python scripts/admin_screenshots.py`. It serves the app of
tests/test_panel_browser.py with uvicorn on 127.0.0.1, logs in and saves PNG files into docs/images/.
"""

from __future__ import annotations

import os
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault('PANTHER_DEV', '1')
os.environ['SE_OFFLINE'] = 'true'

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

from tests._uvicorn import uvicorn_servers  # noqa: E402
from tests.test_panel_browser import APP, Page, png  # noqa: E402

IMAGES = ROOT / 'docs' / 'images'
TITLES = "['Desk lamp', 'Reading lamp', 'Bookshelf', 'Armchair', 'Coffee table', 'Floor lamp'][n]"


def chromium(home: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = '/usr/bin/chromium'
    for argument in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--hide-scrollbars'):
        options.add_argument(argument)
    options.add_argument(f'--user-data-dir={home / "profile"}')
    service = Service(
        executable_path='/usr/bin/chromedriver', env={**os.environ, 'HOME': str(home), 'TMPDIR': str(home)}
    )
    return webdriver.Chrome(service=service, options=options)


def take(page: Page, directory: Path) -> None:
    driver = page.driver
    shot = lambda name: driver.save_screenshot(str(IMAGES / f'admin-{name}.png'))  # noqa: E731
    driver.set_window_size(1100, 700)
    page.open('/admin/login/')
    page.type('username', 'admin')
    shot('login')
    page.type('password', 'admin-pass')
    page.submit()
    shot('home')
    gadgets = next(link.get_attribute('href') for link in page.find_all('table.list a') if link.text == 'Gadget')
    driver.get(f'{gadgets}?sort=title')
    shot('list')
    driver.get(f'{gadgets}create/')
    page.type('title', 'Desk lamp')
    page.type('address.city', 'Oslo')
    page.type('extra', '{"shelf": ')
    page.submit()
    driver.set_window_size(1100, 1900)
    shot('form-errors')
    driver.get(f'{gadgets}?sort=title')
    driver.get(page.find('form#bulk tbody tr td.id a').get_attribute('href'))
    page.set_value('seen_at', '2024-05-06T07:08:09')
    page.find('[name="picture"]').send_keys(str(directory / 'cover.png'))
    page.submit()
    shot('detail')
    driver.set_window_size(390, 844)
    driver.get(f'{gadgets}?sort=title')
    shot('phone')


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        source = textwrap.dedent(APP).replace("f'Bulk {n}'", TITLES)
        (directory / 'panel_app.py').write_text(source)
        (directory / 'cover.png').write_bytes(png(64, 48))
        (directory / 'home').mkdir()
        driver = chromium(directory / 'home')
        try:
            with uvicorn_servers(directory, 'panel_app') as servers:
                take(Page(driver, f'http://127.0.0.1:{servers[0][1]}'), directory)
        finally:
            driver.quit()
    print(f'Screenshots written to {IMAGES}')


if __name__ == '__main__':
    main()
