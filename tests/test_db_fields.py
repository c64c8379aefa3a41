"""Stored field types, unique fields, references and `BaseUser`, on both engines."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import uuid
from pathlib import Path
from typing import Annotated

import pytest

from panther.configs import config
from panther.db import Model
from panther.db.connections import load_database
from panther.db.models import BaseUser, DocumentError, Unique
from panther.db.queries.base_queries import BaseQuery
from panther.exceptions import DatabaseError
from tests._db_models import Account, Address, Article, Author, Color, Event, Everything, User, Window
from tests.conftest import MONGO_HOST, MONGO_PORT

# ------------------------------------------------------------------------------------------------ field types


async def test_field_types_round_trip(engine: str) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.timezone.utc)
    key = uuid.uuid4()
    item = await Everything.insert_one(
        when=when,
        day='2024-02-29',
        color='blue',
        key=str(key),
        price='10.25',
        scores={'a': 1, 'b': '2'},
        address={'city': 'Tehran'},
        tags=['x', 'y'],
    )
    found = await Everything.find_one(id=item.id)
    assert found is not None
    assert found.when.replace(tzinfo=dt.timezone.utc) == when
    assert found.day == dt.date(2024, 2, 29)
    assert found.color is Color.BLUE
    assert found.key == key
    assert found.price == decimal.Decimal('10.25')
    assert found.scores == {'a': 1, 'b': 2}
    assert found.address == Address(city='Tehran')
    assert found.tags == ['x', 'y']
    assert found.note is None
    assert await Everything.count(color=Color.BLUE) == 1
    assert await Everything.count(key=key) == 1
    assert await Everything.count(day=dt.date(2024, 2, 29)) == 1
    assert await Everything.count(**{'address.city': 'Tehran'}) == 1
    assert await Everything.count(flag=False) == 1
    await found.update(address={'city': 'Shiraz', 'zip_code': '7'}, note='n')
    assert found.address == Address(city='Shiraz', zip_code='7')
    assert found.note == 'n'


async def test_datetimes_read_back_as_returned_by_insert(engine: str) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)
    window = Window(opens=when, closes=when + dt.timedelta(microseconds=999))
    event = await Event.insert_one(at=when, history=[when, when.replace(microsecond=1)], window=window)
    found = await Event.find_one(id=event.id)
    assert found == event
    # MongoDB keeps milliseconds (the rest is cut); the embedded engine keeps microseconds.
    expected = when.replace(microsecond=123000) if engine == 'mongodb' else when
    assert (event.at, event.window.opens, event.history[0]) == (expected, expected, expected)
    assert window.opens == when  # the caller's sub-document is not changed
    assert await Event.count(at=when) == 1
    assert await Event.count(at={'$gte': when}) == 1
    many = await Event.insert_many([{'at': when}, Event(at=when + dt.timedelta(microseconds=1500))])
    assert [await Event.find_one(id=item.id) for item in many] == many
    draft = Event(at=when, day=dt.date(2024, 5, 6))
    await draft.save()
    assert await Event.find_one(id=draft.id) == draft
    draft.at = when + dt.timedelta(microseconds=2)
    await draft.save()
    assert await Event.find_one(id=draft.id) == draft
    await draft.update(history=[when])
    assert await Event.find_one(id=draft.id) == draft
    user = await User.insert_one(username='u')
    stored = await User.find_one(id=user.id)
    assert stored.date_created.replace(tzinfo=None) == user.date_created.astimezone(dt.timezone.utc).replace(
        tzinfo=None
    )


# ----------------------------------------------------------------------------------------------- unique fields


async def test_unique_fields(engine: str) -> None:
    ali = await Account.insert_one(username='ali', email='ali@example.com')
    with pytest.raises(DocumentError) as raised:
        await Account.insert_one(username='ali')
    assert str(raised.value) == 'Account(username="already exists")'
    assert raised.value.fields == {'username': 'already exists'}
    assert isinstance(raised.value, DatabaseError)
    with pytest.raises(DatabaseError, match=r'^Account\(email="already exists"\)$'):
        await Account.insert_one(username='other', email='ali@example.com')
    # An optional unique field may be left empty by several documents.
    sara = await Account.insert_one(username='sara')
    reza = await Account.insert_one(username='reza', email=None)
    assert await Account.count() == 3
    assert (await Account.find_one(username='ali')).id == ali.id

    with pytest.raises(DatabaseError, match=r'^Account\(username="already exists"\)$'):
        await Account.update_one({'id': sara.id}, username='ali')
    with pytest.raises(DatabaseError, match=r'^Account\(email="already exists"\)$'):
        await Account.update_many({'username': {'$in': ['sara', 'reza']}}, email='same@example.com')
    with pytest.raises(DatabaseError, match=r'^Account\(username="already exists"\)$'):
        await sara.update(username='reza')
    assert sara.username == 'sara'
    sara.username = 'ali'
    with pytest.raises(DatabaseError, match=r'^Account\(username="already exists"\)$'):
        await sara.save()
    # Writing a document's own value again is no conflict.
    assert await Account.update_one({'id': ali.id}, username='ali', nickname='a') is True
    await reza.update(username='reza2')
    assert (await Account.find_one(id=reza.id)).username == 'reza2'

    # A batch with a repeated value writes nothing, on both engines.
    with pytest.raises(DatabaseError, match=r'^Account\(username="already exists"\)$'):
        await Account.insert_many([{'username': 'new1'}, {'username': 'new2'}, {'username': 'new1'}])
    with pytest.raises(DatabaseError, match=r'^Account\(username="already exists"\)$'):
        await Account.insert_many([{'username': 'new3'}, {'username': 'ali'}])
    assert sorted(account.username for account in await (await Account.find()).to_list()) == ['ali', 'reza2', 'sara']


async def test_concurrent_inserts_of_one_unique_value(engine: str) -> None:
    results = await asyncio.gather(*(Account.insert_one(username='race') for _ in range(5)), return_exceptions=True)
    assert len([result for result in results if isinstance(result, Account)]) == 1
    assert all(isinstance(result, DocumentError) for result in results if not isinstance(result, Account))
    assert await Account.count(username='race') == 1

    # Check-then-insert is a race on its own (on MongoDB both checks can pass); the unique index settles it.
    async def sign_up(name: str) -> Account | None:
        if await Account.exists(username=name):
            return None
        return await Account.insert_one(username=name)

    results = await asyncio.gather(sign_up('twice'), sign_up('twice'), return_exceptions=True)
    assert len([result for result in results if isinstance(result, Account)]) == 1
    assert await Account.count(username='twice') == 1


async def test_unique_index_follows_the_model(engine: str, tmp_path: Path) -> None:
    class Handle(Model):
        name: Annotated[str, Unique()]

    await Handle.insert_one(name='x')
    with pytest.raises(DatabaseError, match='already exists'):
        await Handle.insert_one(name='x')
    await _reconnect(engine)

    class Handle(Model):  # type: ignore[no-redef]  # the same collection, no longer unique
        name: str

    await Handle.insert_one(name='x')
    assert await Handle.count(name='x') == 2
    await _reconnect(engine)

    class Handle(Model):  # type: ignore[no-redef]
        name: Annotated[str, Unique()]

    # The duplicates can still be read (and removed); writes are refused until they are gone.
    assert await Handle.count(name='x') == 2
    with pytest.raises(DatabaseError, match=r'`Handle.name` cannot be made unique: stored documents already share'):
        await Handle.insert_one(name='y')
    assert await Handle.count() == 2
    assert await Handle.delete_one(name='x') is True
    await Handle.insert_one(name='y')
    with pytest.raises(DatabaseError, match=r'^Handle\(name="already exists"\)$'):
        await Handle.insert_one(name='x')


async def _reconnect(engine: str) -> None:
    # A new connection to the same database, as after a restart of the application.
    if engine == 'sqlite':
        path = config.DATABASE.path
        await config.DATABASE.close()
        load_database({'engine': {'class': 'panther.db.connections.PantherDBConnection', 'path': path}})
    else:
        name = config.DATABASE.session.name
        await config.DATABASE.close()
        load_database(
            {
                'engine': {
                    'class': 'panther.db.connections.MongoDBConnection',
                    'host': f'mongodb://{MONGO_HOST}:{MONGO_PORT}',
                    'database': name,
                }
            }
        )


def test_unique_needs_a_single_valued_field() -> None:
    with pytest.raises(DatabaseError, match=r'`Tags.tags`: `Unique\(\)` needs a field holding one value'):

        class Tags(Model):
            tags: Annotated[list[str], Unique()]


# ---------------------------------------------------------------------------------------------- foreign keys


async def test_foreign_keys_are_stored_as_ids_and_resolved(engine: str) -> None:
    author = await Author.insert_one(name='ali', age=30)
    other = await Author.insert_one(name='reza')
    article = await Article.insert_one(title='t', writer=author, reviewers=[other, author.id])
    assert article.writer == author
    assert article.reviewers == [other, author]
    found = await Article.find_one(id=article.id)
    assert found.writer == author
    assert found.reviewers == [other, author]
    assert found.model_dump()['writer'] == {'id': str(author.id), 'name': 'ali', 'age': 30}
    raw = await Article.count(writer=author)
    assert raw == 1


async def test_related_fields_are_filtered_by_id_text(engine: str) -> None:
    author = await Author.insert_one(name='ali')
    other = await Author.insert_one(name='reza')
    await Article.insert_many(
        [{'title': 'a', 'writer': author, 'reviewers': [other]}, {'title': 'b', 'writer': other, 'reviewers': []}]
    )
    assert await Article.count(writer=str(author.id)) == 1
    assert (await Article.find_one(writer=str(other.id))).title == 'b'
    assert await Article.count(writer={'$in': [str(author.id), str(other.id)]}) == 2
    assert await Article.count(writer={'$ne': str(author.id)}) == 1
    assert await Article.count(writer={'$nin': [str(author.id)]}) == 1
    assert await Article.count(reviewers=str(other.id)) == 1
    assert await Article.count(reviewers={'$all': [str(other.id)]}) == 1
    assert await Article.count({'$or': [{'writer': str(author.id)}, {'title': 'none'}]}) == 1
    assert await Article.count(writer=other, reviewers=[]) == 1
    assert await Article.update_many({'writer': str(author.id)}, title='updated') == 1
    assert await Article.delete_many(writer=str(other.id)) == 1
    # Text that is not an id matches nothing (no error), and `$ne` then matches everything.
    for text in ('not-an-id', '0' * 24, '0' * 26, ''):
        assert await Article.count(writer=text) == 0
        assert await Article.count(writer={'$in': [text]}) == 0
        assert await Article.count(writer={'$ne': text}) == 1


async def test_unsaved_related_model_is_inserted_first(engine: str) -> None:
    article = await Article.insert_one(title='t', writer=Author(name='new'))
    assert article.writer.id is not None
    assert await Author.count(name='new') == 1


async def test_unknown_related_id_fails_validation(engine: str) -> None:
    missing = '0' * (24 if engine == 'mongodb' else 26)
    with pytest.raises(DatabaseError, match='writer'):
        await Article.insert_one(title='t', writer=missing)
    assert await Article.count() == 0


async def test_deleted_related_document_reads_as_none(engine: str) -> None:
    author = await Author.insert_one(name='gone')
    article = await Article.insert_one(title='t', writer=author)
    await author.delete()
    assert (await Article.find_one(id=article.id)).writer is None


async def test_foreign_keys_are_fetched_in_one_query_per_related_model(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    authors = await Author.insert_many([{'name': f'a{i}'} for i in range(5)])
    await Article.insert_many(
        [{'title': f't{i}', 'writer': authors[i % 5], 'reviewers': authors[:2]} for i in range(40)]
    )
    engine_class = config.QUERY_ENGINE
    original = engine_class.fetch_by_ids.__func__
    calls = []

    async def counting(cls: type[BaseQuery], model: type[Model], ids: list[str], depth: int = 0) -> dict:
        calls.append(len(ids))
        return await original(cls, model, ids, depth)

    monkeypatch.setattr(engine_class, 'fetch_by_ids', classmethod(counting))
    articles = await (await Article.find()).to_list()
    assert len(articles) == 40
    assert all(article.writer is not None for article in articles)
    assert calls == [5]


# ------------------------------------------------------------------------------------------------ BaseUser


async def test_base_user_passwords(engine: str) -> None:
    user = await User.insert_one(username='ali')
    assert user.date_created is not None
    await user.set_password('secret')
    assert len(user.password) == 64
    stored = await User.find_one(id=user.id)
    assert stored.password == user.password
    assert await stored.check_password('secret') is True
    assert await stored.check_password('wrong') is False
    assert User.USERNAME_FIELD == 'username'


async def test_base_user_delegates_tokens_to_authentication(engine: str) -> None:
    class FakeAuth:
        @classmethod
        async def login(cls, user: BaseUser) -> dict:
            return {'access_token': f'a-{user.username}', 'refresh_token': 'r'}

        @classmethod
        async def refresh(cls, user: BaseUser) -> dict:
            return {'access_token': 'new'}

        @classmethod
        async def logout(cls, user: BaseUser) -> str:
            return 'bye'

    config.AUTHENTICATION = FakeAuth
    user = await User.insert_one(username='ali')
    assert await user.login() == {'access_token': 'a-ali', 'refresh_token': 'r'}
    assert user.last_login is not None
    assert (await User.find_one(id=user.id)).last_login is not None
    assert await user.refresh_tokens() == {'access_token': 'new'}
    assert await user.logout() == 'bye'
