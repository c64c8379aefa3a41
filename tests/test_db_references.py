"""Deleting referenced documents: `OnDelete` rules, and reading documents whose reference target is gone, on both
engines and through the generic endpoints."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pytest

from panther import Panther
from panther.configs import config
from panther.db import Model
from panther.db.models import OnDelete, ProtectedError
from panther.exceptions import DatabaseError
from panther.generics import DeleteAPI, ListAPI, RetrieveAPI
from panther.request import Request
from panther.test import APIClient


class Member(Model):
    name: str


class Title(Model):
    name: str


class Loan(Model):
    title: Annotated[Title, OnDelete.PROTECT]
    member: Annotated[Member, OnDelete.CASCADE]


class Fine(Model):
    loan: Annotated[Loan, OnDelete.PROTECT]
    amount: int = 0


class Hold(Model):
    title: Title  # required, no rule: deleting the title goes ahead, as in Panther 5.x


class Review(Model):
    text: str
    title: Title | None = None  # optional: cleared by default


class Shelf(Model):
    label: str
    titles: list[Title] = []  # a list: the deleted title leaves it by default


class Pin(Model):
    title: Annotated[Title | None, OnDelete.PROTECT] = None


class Thread(Model):
    text: str
    parent: Annotated[Thread | None, OnDelete.CASCADE] = None


class Writer(Model):
    name: str
    works: list[Work] = []


class Work(Model):
    name: str
    writer: Writer


Writer.model_rebuild()


async def _library() -> dict[str, Any]:
    dune, emma = await Title.insert_many([{'name': 'Dune'}, {'name': 'Emma'}])
    ann, bob = await Member.insert_many([{'name': 'ann'}, {'name': 'bob'}])
    loan = await Loan.insert_one(title=dune, member=ann)
    review = await Review.insert_one(text='great', title=emma)
    shelf = await Shelf.insert_one(label='s', titles=[dune, emma])
    return {'dune': dune, 'emma': emma, 'ann': ann, 'bob': bob, 'loan': loan, 'review': review, 'shelf': shelf}


async def test_default_rules(engine: str, caplog: pytest.LogCaptureFixture) -> None:
    library = await _library()
    hold = await Hold.insert_one(title=library['emma'])
    # `Review.title` is optional and `Shelf.titles` a list: deleting Emma clears them.
    await library['emma'].delete()
    assert (await Review.find_one(id=library['review'].id)).title is None
    assert await Review.count(title=None) == 1
    assert [title.name for title in (await Shelf.find_one(id=library['shelf'].id)).titles] == ['Dune']
    # `Hold.title` is required without a rule: the hold cannot be read without its title and is left out.
    with caplog.at_level(logging.WARNING, logger='panther'):
        assert await Hold.find() == []
        assert await Hold.find_one(id=hold.id) is None
    assert await Hold.count() == 1
    assert await Hold.delete_one(id=hold.id) is True


async def test_protect(engine: str) -> None:
    library = await _library()
    # Dune cannot be deleted while a loan refers to it, by any delete.
    with pytest.raises(ProtectedError) as refused:
        await library['dune'].delete()
    assert str(refused.value) == 'This `Title` is referenced by `Loan.title`: delete or change those documents first.'
    assert refused.value.fields == {'Loan.title': 'refers to this document'}
    assert isinstance(refused.value, DatabaseError)
    with pytest.raises(ProtectedError):
        await Title.delete_one(name='Dune')
    with pytest.raises(ProtectedError):
        await Title.delete_many()
    assert await Title.count(name='Dune') == 1
    assert len((await Shelf.find_one(id=library['shelf'].id)).titles) == 2  # nothing was changed
    await library['loan'].delete()
    assert await Title.delete_one(name='Dune') is True
    assert (await Shelf.find_one(id=library['shelf'].id)).titles == [library['emma']]
    assert await Title.count() == 1


async def test_cascade(engine: str) -> None:
    library = await _library()
    await Loan.insert_one(title=library['emma'], member=library['ann'])
    await Loan.insert_one(title=library['emma'], member=library['bob'])
    assert await Member.delete_one(name='ann') is True
    assert [loan.member.name for loan in await Loan.find()] == ['bob']
    assert await Member.delete_many() == 1
    assert await Loan.count() == 0
    assert await Title.delete_many() == 2  # no loan protects them any more


async def test_a_cascade_stops_at_a_protecting_reference(engine: str) -> None:
    library = await _library()
    await Fine.insert_one(loan=library['loan'], amount=3)
    with pytest.raises(ProtectedError, match=r'`Fine\.loan`'):
        await library['ann'].delete()
    assert await Member.count() == 2
    assert await Loan.count() == 1  # nothing was deleted
    await Fine.delete_many()
    await library['ann'].delete()
    assert await Loan.count() == 0


async def test_an_optional_reference_can_protect(engine: str) -> None:
    library = await _library()
    await Pin.insert_one(title=library['emma'])
    with pytest.raises(ProtectedError, match=r'`Pin\.title`'):
        await library['emma'].delete()
    await Pin.delete_many()
    await library['emma'].delete()
    assert await Title.count(name='Emma') == 0


async def test_documents_whose_target_is_gone_stay_readable(engine: str, caplog: pytest.LogCaptureFixture) -> None:
    library = await _library()
    other = await Loan.insert_one(title=library['emma'], member=library['bob'])
    # Deleted without the rules (raw engine call, another program, data from before the rules): references dangle.
    await config.QUERY_ENGINE.delete_many(Title, {'name': 'Dune'})
    await config.QUERY_ENGINE.delete_many(Title, {'name': 'Emma'})
    assert (await Review.find_one(id=library['review'].id)).title is None
    assert (await Shelf.find_one(id=library['shelf'].id)).titles == []
    with caplog.at_level(logging.WARNING, logger='panther'):
        # A loan cannot exist without its title: it is left out of results instead of failing the whole read.
        assert await Loan.find() == []
        assert await Loan.find_one(id=other.id) is None
    assert any(
        '`Loan`' in record.getMessage() and 'deleted document' in record.getMessage() for record in caplog.records
    )
    assert await Loan.count() == 2  # still stored, and can be deleted
    assert await Loan.delete_many() == 2


async def test_reference_cycles_read_and_delete(engine: str) -> None:
    writer = await Writer.insert_one(name='w')
    work = await Work.insert_one(name='one', writer=writer)
    await writer.update(works=[work])
    read = await Writer.find_one(id=writer.id)
    assert read.works == [work]
    assert (await Work.find_one(id=work.id)).writer.works[0] == work
    await work.delete()  # leaves the writer's list
    assert (await Writer.find_one(id=writer.id)).works == []
    await writer.delete()
    assert await Writer.count() == 0


async def test_a_cascade_through_the_same_model(engine: str) -> None:
    root = await Thread.insert_one(text='root')
    reply = await Thread.insert_one(text='reply', parent=root)
    await Thread.insert_one(text='reply to reply', parent=reply)
    other = await Thread.insert_one(text='other')
    assert await Thread.delete_one(id=root.id) is True
    assert [thread.text for thread in await Thread.find()] == ['other']
    assert await Thread.delete_many(id={'$in': [str(other.id)]}) == 1


def test_rules_are_checked_where_the_model_is_declared() -> None:
    with pytest.raises(DatabaseError, match=r'`Bad.title`: `OnDelete.SET_NULL` needs a field that accepts None'):

        class Bad(Model):
            title: Annotated[Title, OnDelete.SET_NULL]

    with pytest.raises(DatabaseError, match=r'`Odd.name`: `OnDelete` belongs on a reference'):

        class Odd(Model):
            name: Annotated[str, OnDelete.CASCADE]


# ------------------------------------------------------------------------------------------- generic endpoints


class TitleDetail(RetrieveAPI, DeleteAPI):
    async def get_instance(self, request: Request, **kwargs: Any) -> Model:
        return await Title.find_one_or_raise(id=kwargs['title_id'])


class MemberDetail(DeleteAPI):
    async def get_instance(self, request: Request, **kwargs: Any) -> Model:
        return await Member.find_one_or_raise(id=kwargs['member_id'])


class LoanList(ListAPI):
    async def get_query(self, request: Request, **kwargs: Any) -> Any:
        return await Loan.find()


class LoanDetail(RetrieveAPI):
    async def get_instance(self, request: Request, **kwargs: Any) -> Model:
        return await Loan.find_one_or_raise(id=kwargs['loan_id'])


class ReviewList(ListAPI):
    async def get_query(self, request: Request, **kwargs: Any) -> Any:
        return await Review.find()


class HoldList(ListAPI):
    async def get_query(self, request: Request, **kwargs: Any) -> Any:
        return await Hold.find()


class HoldDetail(RetrieveAPI):
    async def get_instance(self, request: Request, **kwargs: Any) -> Model:
        return await Hold.find_one_or_raise(id=kwargs['hold_id'])


URLS = {
    'holds/': HoldList,
    'holds/<hold_id>/': HoldDetail,
    'titles/<title_id>/': TitleDetail,
    'members/<member_id>/': MemberDetail,
    'loans/': LoanList,
    'loans/<loan_id>/': LoanDetail,
    'reviews/': ReviewList,
}


async def test_generic_endpoints(engine: str) -> None:
    library = await _library()
    client = APIClient(app=Panther(__name__, configs=__name__, urls=URLS))
    res = await client.delete(f'/titles/{library["dune"].id}/')
    assert res.status_code == 409
    assert res.data == {'detail': 'This `Title` is referenced by `Loan.title`: delete or change those documents first.'}
    assert (await client.get(f'/titles/{library["dune"].id}/')).status_code == 200
    assert (await client.delete(f'/titles/{library["emma"].id}/')).status_code == 204
    res = await client.get('/reviews/')
    assert res.status_code == 200
    assert [(review['text'], review['title']) for review in res.data] == [('great', None)]
    # Cascade through the endpoint: ann's loan goes with her.
    assert (await client.delete(f'/members/{library["ann"].id}/')).status_code == 204
    assert (await client.get('/loans/')).data == []
    assert (await client.get(f'/loans/{library["loan"].id}/')).status_code == 404


async def test_generic_endpoints_read_loans_whose_title_is_gone(engine: str) -> None:
    library = await _library()
    kept = await Loan.insert_one(title=library['emma'], member=library['bob'])
    await config.QUERY_ENGINE.delete_many(Title, {'name': 'Dune'})  # bypassing the rules
    client = APIClient(app=Panther(__name__, configs=__name__, urls=URLS))
    res = await client.get('/loans/')
    assert res.status_code == 200
    assert [loan['id'] for loan in res.data] == [str(kept.id)]
    res = await client.get(f'/loans/{library["loan"].id}/')
    assert res.status_code == 404
    assert res.data == {'detail': 'Loan Does Not Exist'}


async def test_generic_endpoints_after_deleting_the_target_of_a_required_reference_without_a_rule(engine: str) -> None:
    library = await _library()
    hold = await Hold.insert_one(title=library['emma'])
    kept = await Hold.insert_one(title=library['dune'])
    client = APIClient(app=Panther(__name__, configs=__name__, urls=URLS))
    assert (await client.delete(f'/titles/{library["emma"].id}/')).status_code == 204  # as in Panther 5.x
    res = await client.get('/holds/')
    assert res.status_code == 200
    assert [item['id'] for item in res.data] == [str(kept.id)]
    assert (await client.get(f'/holds/{hold.id}/')).status_code == 404
    assert (await client.get(f'/holds/{kept.id}/')).data['title']['name'] == 'Dune'
