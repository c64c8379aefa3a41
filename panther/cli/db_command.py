"""`panther db …`: maintenance commands of the embedded database.

`panther db import OLD.pdb [--into NEW] [--secret-key KEY] [--encrypt]` converts a database file of the old
JSON PantherDB engine (`{"Collection": [{"_id": ..., ...}, ...]}`, optionally Fernet-encrypted) into the SQLite
format. Without `--into` the file is converted in place and the original is kept as `OLD.pdb.bak`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import orjson

__all__ = ['main']


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='panther db', description='Embedded database maintenance.')
    commands = parser.add_subparsers(dest='command', required=True)
    importer = commands.add_parser('import', help='Import an old JSON PantherDB file into the SQLite format.')
    importer.add_argument('file', help='the old .pdb / .json database file')
    importer.add_argument('--into', help='the new SQLite file (default: convert in place, keeping FILE.bak)')
    importer.add_argument('--secret-key', help='the SECRET_KEY the old file was encrypted with (if it was)')
    importer.add_argument('--encrypt', action='store_true', help='encrypt the new database (needs --secret-key)')
    return parser


def _fail(message: str) -> int:
    print(f'panther db: {message}', file=sys.stderr)
    return 1


def _load_old(raw: bytes, secret_key: str | None) -> dict[str, Any]:
    text = raw.strip()
    if not text.startswith(b'{'):
        if not secret_key:
            raise ValueError('the file is not JSON; if it was encrypted, pass --secret-key')
        from cryptography.fernet import Fernet, InvalidToken

        try:
            text = Fernet(secret_key.encode()).decrypt(text)
        except (InvalidToken, ValueError):
            raise ValueError('the file cannot be decrypted with this --secret-key') from None
    try:
        data = orjson.loads(text or b'{}')
    except orjson.JSONDecodeError as error:
        raise ValueError(f'the file is not valid JSON ({error})') from None
    if not isinstance(data, dict):
        raise ValueError('expected a JSON object of collections')
    return data


def import_pantherdb(
    source: Path, target: Path, secret_key: str | None = None, encrypt: bool = False
) -> dict[str, int]:
    """Write the collections of the old JSON file `source` into a new SQLite file `target`."""
    from panther.db import _sqlite

    collections = _load_old(source.read_bytes(), secret_key)
    key = secret_key.encode() if secret_key else None
    store = _sqlite.SQLiteStore(target, encryption=encrypt, key=(lambda: key) if key else None)
    counts: dict[str, int] = {}
    try:
        for name, documents in collections.items():
            if not isinstance(documents, list):
                raise ValueError(f'collection `{name}` is not a list of documents')
            table = _sqlite.quote_identifier(name)
            store.ensure_table_sync(name)
            rows = []
            for document in documents:
                if not isinstance(document, dict):
                    raise ValueError(f'collection `{name}` holds a non-object document')
                body = dict(document)
                identifier = body.pop('_id', None) or body.pop('id', None)
                if identifier is None:
                    raise ValueError(f'a document of `{name}` has no `_id`')
                body.pop('id', None)
                data = orjson.dumps(body)
                rows.append((str(identifier), store.encrypt(data) if encrypt else data.decode()))
            store.run_sync(_sqlite.execute_many, f'INSERT INTO {table} (_id, data) VALUES (?, ?)', rows)
            counts[name] = len(rows)
    finally:
        store.close_sync()
    return counts


def _import(options: argparse.Namespace) -> int:
    from panther.db._sqlite import SQLITE_HEADER
    from panther.exceptions import DatabaseError, PantherError

    source = Path(options.file)
    if not source.is_file():
        return _fail(f'`{source}` does not exist.')
    with open(source, 'rb') as file:
        if file.read(len(SQLITE_HEADER)) == SQLITE_HEADER:
            return _fail(f'`{source}` is already an SQLite database; nothing to import.')
    if options.encrypt and not options.secret_key:
        return _fail('--encrypt needs --secret-key.')
    in_place = options.into is None
    target = Path(options.into) if options.into else source.with_name(source.name + '.importing')
    if target.exists():
        return _fail(f'`{target}` already exists; choose another --into or remove it.')
    backup = source.with_name(source.name + '.bak')
    if in_place and backup.exists():
        return _fail(f'`{backup}` already exists; move it away first.')
    try:
        counts = import_pantherdb(source, target, options.secret_key, options.encrypt)
    except (ValueError, DatabaseError, PantherError) as error:
        for leftover in (target, Path(f'{target}-wal'), Path(f'{target}-shm')):
            if leftover.exists():
                leftover.unlink()
        return _fail(f'cannot import `{source}`: {error}')
    if in_place:
        os.replace(source, backup)
        os.replace(target, source)
        target = source
    total = sum(counts.values())
    print(f'Imported {total} documents from {len(counts)} collections into `{target}`.')
    if in_place:
        print(f'The original file is kept as `{backup}`.')
    return 0


def main(args: list[str]) -> int:
    """Run `panther db <args>`; returns the exit status."""
    parser = _parser()
    try:
        options = parser.parse_args(args)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if options.command == 'import':
        return _import(options)
    return _fail(f'unknown command `{options.command}`.')
