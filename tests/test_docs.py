"""Every ```python block of the user docs runs, and the `test_*` functions they define pass."""

from __future__ import annotations

import inspect
import re
import sys
import types
from pathlib import Path

import pytest

from panther.events import Event

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / 'README.md', ROOT / 'docs' / 'core.md']
BLOCK = re.compile(r'```python\n(.*?)```', re.DOTALL)


def _blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding='utf-8'))


@pytest.mark.parametrize('path', DOCS, ids=lambda p: p.name)
async def test_doc_examples_run(path: Path) -> None:
    blocks = _blocks(path)
    assert blocks, f'{path} has no python examples'
    name = f'docs_example_{path.stem.lower()}'
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        for block in blocks:
            exec(compile(block, f'{path.name}', 'exec'), module.__dict__)
        tests = [v for k, v in vars(module).items() if k.startswith('test_') and inspect.isfunction(v)]
        assert tests, f'{path} defines no test_* example'
        for test in tests:
            result = test()
            if inspect.isawaitable(result):
                await result
    finally:
        del sys.modules[name]
        Event.clear()


async def test_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / 'README.md').read_text(encoding='utf-8')[:600]
    assert head.index('./scripts/run') < head.index('./scripts/test')
