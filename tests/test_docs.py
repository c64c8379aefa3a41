"""Every ```python block of the user docs runs, and the `test_*` functions they define pass.

The blocks of one file run in order in one module namespace (one single-file app per page), inside a
temporary working directory, so relative paths such as the embedded database file land there.

A block whose first line is `# requires: redis` or `# requires: mongodb` needs that service. Such blocks,
and the tests they define, run in a separate test item (`auth.md-redis`, ...) carrying the service's
marker, so `tests/conftest.py` skips it when the service is unreachable (and fails it with `CI=true`).
That item runs the page's other blocks too (their definitions are needed) but only the service's tests;
`REDIS_HOST` / `REDIS_PORT` / `MONGODB_URL` point the page's settings at the test services.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
import types
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from panther import authentications
from panther.background_tasks import _background_tasks
from panther.configs import config
from panther.db.connections.redis import close_redis
from panther.events import Event
from tests._core_helpers import run_interpreter

ROOT = Path(__file__).resolve().parent.parent
DOCS = [
    ROOT / 'README.md',
    ROOT / 'docs' / 'core.md',
    ROOT / 'docs' / 'auth.md',
    ROOT / 'docs' / 'database.md',
    ROOT / 'docs' / 'security.md',
    ROOT / 'docs' / 'websockets.md',
    ROOT / 'docs' / 'background-tasks.md',
    ROOT / 'docs' / 'openapi.md',
    ROOT / 'docs' / 'admin.md',
]
BLOCK = re.compile(r'```python\n(.*?)```', re.DOTALL)
REQUIRES = re.compile(r'#\s*requires:\s*(\S+)\s*')
SERVICES = ('redis', 'mongodb')


@dataclass(frozen=True)
class Block:
    code: str
    line: int  # line of the file where the code starts
    service: str | None


def _blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding='utf-8')
    blocks = []
    for match in BLOCK.finditer(text):
        code = match.group(1)
        first_line = code.split('\n', 1)[0]
        required = REQUIRES.fullmatch(first_line)
        service = required.group(1) if required else None
        assert service in (None, *SERVICES), f'{path.name}: unknown service in `{first_line}`'
        blocks.append(Block(code, text.count('\n', 0, match.start(1)) + 1, service))
    return blocks


def _cases() -> list[Any]:
    cases = []
    for path in DOCS:
        cases.append(pytest.param(path, None, id=path.name))
        services = {block.service for block in _blocks(path) if block.service is not None}
        for service in sorted(services):
            cases.append(pytest.param(path, service, id=f'{path.name}-{service}', marks=getattr(pytest.mark, service)))
    return cases


def _point_settings_at(service: str, address: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    host, port = address
    if service == 'redis':
        monkeypatch.setenv('REDIS_HOST', host)
        monkeypatch.setenv('REDIS_PORT', str(port))
    else:
        # A database of its own: the server may be shared with other runs.
        monkeypatch.setenv('MONGODB_URL', f'mongodb://{host}:{port}/panther_docs_{uuid.uuid4().hex[:12]}')


async def _release_globals() -> None:
    """Undo what the examples changed outside `config` (which conftest resets) and the memory store."""
    Event.clear()
    authentications._verified_tokens.clear()
    await _background_tasks.clear()
    _background_tasks._initialized = False
    database = config.DATABASE
    if database is not None:
        await database.close()
    await close_redis()


@pytest.mark.parametrize(('path', 'service'), _cases())
async def test_doc_examples_run(
    path: Path, service: str | None, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = _blocks(path)
    assert blocks, f'{path} has no python examples'
    if service is not None:
        _point_settings_at(service, request.getfixturevalue(f'{service}_address'), monkeypatch)
    monkeypatch.chdir(tmp_path)
    name = f'docs_example_{path.stem.lower()}'
    module = types.ModuleType(name)
    sys.modules[name] = module
    # Test name → the service of the block that defined it (None: needs nothing).
    defined: dict[str, str | None] = {}
    try:
        for block in blocks:
            if block.service not in (None, service):
                continue
            before = dict(vars(module))
            # Leading newlines keep the line numbers of the markdown file in tracebacks.
            source = '\n' * (block.line - 1) + block.code
            exec(compile(source, str(path.relative_to(ROOT)), 'exec'), module.__dict__)
            for key, value in vars(module).items():
                if key.startswith('test_') and inspect.isfunction(value) and before.get(key) is not value:
                    defined[key] = block.service
        tests = [getattr(module, key) for key, needs in defined.items() if needs == service]
        assert tests, f'{path} defines no test_* example' + (f' for {service}' if service else '')
        for test in tests:
            result = test()
            if inspect.isawaitable(result):
                await result
    finally:
        del sys.modules[name]
        await _release_globals()


async def test_service_blocks_are_marked_on_their_first_line() -> None:
    # A `# requires:` comment further down would be ignored and the block would run without its service.
    for path in DOCS:
        for block in _blocks(path):
            later_lines = block.code.split('\n')[1:]
            assert not any(REQUIRES.fullmatch(line.strip()) for line in later_lines), f'{path.name}:{block.line}'


async def test_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / 'README.md').read_text(encoding='utf-8')[:600]
    assert head.index('./scripts/run') < head.index('./scripts/test')


# --- the README's test snippet in a project of its own ---------------------------------------------------------------

TOML_BLOCK = re.compile(r'```toml\n(.*?)```', re.DOTALL)


def _fresh_readme_project(tmp_path: Path, with_configuration: bool) -> Path:
    """The README's app as main.py and its test snippet as tests/test_main.py, as a reader would copy them."""
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    app_block, test_block = BLOCK.findall(readme)[:2]
    project = tmp_path / ('configured' if with_configuration else 'bare')
    (project / 'tests').mkdir(parents=True)
    (project / 'main.py').write_text(app_block, encoding='utf-8')
    (project / 'tests' / 'test_main.py').write_text('from main import app\n' + test_block, encoding='utf-8')
    if with_configuration:
        (project / 'pyproject.toml').write_text(TOML_BLOCK.findall(readme)[0], encoding='utf-8')
    else:
        (project / 'pyproject.toml').write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n', encoding='utf-8')
    return project


def _pytest_in(project: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ('PYTEST_ADDOPTS', 'PANTHER_DEV')}
    return run_interpreter(['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests'], project, env=env, timeout=120)


def test_readme_test_snippet_passes_in_a_fresh_project(tmp_path: Path) -> None:
    result = _pytest_in(_fresh_readme_project(tmp_path, with_configuration=True))
    assert result.returncode == 0, result.stdout + result.stderr
    assert '1 passed' in result.stdout


def test_readme_test_snippet_needs_the_documented_configuration(tmp_path: Path) -> None:
    # Without asyncio_mode the async test is not run: the documented configuration is what makes it pass.
    result = _pytest_in(_fresh_readme_project(tmp_path, with_configuration=False))
    assert result.returncode != 0
    assert '1 passed' not in result.stdout


def test_documented_test_configuration_is_what_panther_create_writes() -> None:
    from panther.cli.template import TEMPLATE

    shipped = TEMPLATE['pyproject.toml']
    for page in (ROOT / 'README.md', ROOT / 'docs' / 'core.md'):
        text = page.read_text(encoding='utf-8')
        assert not any('pytest.mark.asyncio' in block for block in BLOCK.findall(text)), page.name
        for line in TOML_BLOCK.findall(text)[0].splitlines():
            assert line in shipped, f'{page.name}: {line}'


# --- docs/llms.txt and docs/llms-full.txt ----------------------------------------------------------------------------


def _llms_script() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location('llms_script', ROOT / 'scripts' / 'llms.py')
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_llms_files_are_up_to_date() -> None:
    # After editing docs/ or the README's documentation table: `python scripts/llms.py`.
    script = _llms_script()
    for path, text in script.outputs().items():
        assert path.read_text(encoding='utf-8') == text, f'{path.name} is out of date: run python scripts/llms.py'
    assert script.main(['--check']) == 0


def test_llms_index_links_every_docs_page_with_a_description() -> None:
    index = (ROOT / 'docs' / 'llms.txt').read_text(encoding='utf-8')
    assert index.startswith('# Panther\n\n> Panther is ')
    links = dict(re.findall(r'^- \[[^\]]+\]\(([\w.-]+\.md)\): (.+)$', index, re.MULTILINE))
    assert set(links) == {path.name for path in (ROOT / 'docs').glob('*.md')}
    assert all(description.strip() for description in links.values())
    full = (ROOT / 'docs' / 'llms-full.txt').read_text(encoding='utf-8')
    for path in (ROOT / 'docs').glob('*.md'):
        assert path.read_text(encoding='utf-8').strip() in full, path.name


def test_llms_check_fails_when_a_page_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _llms_script()
    docs = tmp_path / 'docs'
    docs.mkdir()
    for path in (ROOT / 'docs').glob('*.md'):
        (docs / path.name).write_text(path.read_text(encoding='utf-8'), encoding='utf-8')
    (tmp_path / 'README.md').write_text((ROOT / 'README.md').read_text(encoding='utf-8'), encoding='utf-8')
    monkeypatch.setattr(script, 'ROOT', tmp_path)
    monkeypatch.setattr(script, 'DOCS', docs)
    monkeypatch.setattr(script, 'INDEX', docs / 'llms.txt')
    monkeypatch.setattr(script, 'FULL', docs / 'llms-full.txt')
    assert script.main(['--check']) == 1  # not generated yet
    assert script.main([]) == 0
    assert script.main(['--check']) == 0
    (docs / 'new-page.md').write_text('# New page\n\nA page nobody indexed yet. More text.\n', encoding='utf-8')
    assert script.main(['--check']) == 1
    script.main([])
    assert '- [New page](new-page.md): A page nobody indexed yet' in (docs / 'llms.txt').read_text(encoding='utf-8')
