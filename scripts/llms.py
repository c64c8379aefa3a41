#!/usr/bin/env python3
"""Write docs/llms.txt (an index in the llms.txt format) and docs/llms-full.txt (every docs page in one file).

Both are generated from docs/*.md and README.md: run `python scripts/llms.py` after editing the docs;
`python scripts/llms.py --check` exits 1 when the checked-in files are out of date (the test suite checks it too).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / 'docs'
INDEX = DOCS / 'llms.txt'
FULL = DOCS / 'llms-full.txt'
GENERATED = 'Generated from docs/ by scripts/llms.py: edit the pages, then run the script.'

# `| topic | [docs/page.md](docs/page.md) |` rows of the README's documentation table.
README_ROW = re.compile(r'^\| (?P<topic>[^|]+?) \| \[docs/(?P<page>[\w-]+\.md)\]\(docs/[\w-]+\.md\) \|$', re.MULTILINE)


def _readme() -> str:
    return (ROOT / 'README.md').read_text(encoding='utf-8')


def summary() -> str:
    """The README's first paragraph of prose (the one that starts with the project's name)."""
    paragraphs = [block.strip() for block in _readme().split('\n\n')]
    first = next(block for block in paragraphs if block.startswith('Panther is '))
    # Links of the README are relative to the repository root; these files live in docs/.
    return ' '.join(first.split()).replace('](docs/', '](')


def pages() -> list[tuple[Path, str, str]]:
    """(path, title, description) of every docs page: the README's order and topics, then any page it omits."""
    topics = {match['page']: match['topic'].strip() for match in README_ROW.finditer(_readme())}
    ordered = [DOCS / name for name in topics if (DOCS / name).is_file()]
    ordered += sorted(path for path in DOCS.glob('*.md') if path not in ordered)
    result = []
    for path in ordered:
        text = path.read_text(encoding='utf-8')
        title = text.split('\n', 1)[0].removeprefix('# ').strip()
        result.append((path, title, topics.get(path.name) or _first_sentence(text)))
    return result


def _first_sentence(text: str) -> str:
    body = text.split('\n\n', 1)[1] if '\n\n' in text else text
    paragraph = ' '.join(body.split('\n\n', 1)[0].split())
    return paragraph.split('. ', 1)[0].rstrip('.')


def index() -> str:
    lines = ['# Panther', '', f'> {summary()}', '', GENERATED, '', '## Docs', '']
    lines += [f'- [{title}]({path.name}): {description}' for path, title, description in pages()]
    lines += [
        '',
        '## Optional',
        '',
        '- [AGENTS.md](../AGENTS.md): the short, exact reference for writing a Panther app, with recipes',
        '- [llms-full.txt](llms-full.txt): every page above in one file',
        '',
    ]
    return '\n'.join(lines)


def full() -> str:
    parts = [f'# Panther documentation\n\n> {summary()}\n\n{GENERATED}\n']
    for path, _, _ in pages():
        parts.append(f'<!-- docs/{path.name} -->\n\n{path.read_text(encoding="utf-8").strip()}\n')
    return '\n\n'.join(parts)


def outputs() -> dict[Path, str]:
    return {INDEX: index(), FULL: full()}


def main(argv: list[str]) -> int:
    stale = [path for path, text in outputs().items() if not path.is_file() or path.read_text(encoding='utf-8') != text]
    if '--check' in argv:
        for path in stale:
            print(f'{path.relative_to(ROOT)} is out of date: run python scripts/llms.py', file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs().items():
        path.write_text(text, encoding='utf-8')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
