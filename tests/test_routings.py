from __future__ import annotations

import types

import pytest

from panther.app import API
from panther.configs import config
from panther.exceptions import PantherError
from panther.middlewares import HTTPMiddleware
from panther.request import Request
from panther.response import Response
from panther.routings import (
    ENDPOINT_NOT_FOUND,
    check_urls_path_variables,
    finalize_urls,
    find_endpoint,
    flatten_urls,
)
from panther.test import APIClient
from tests._core_helpers import make_app


def f() -> None: ...
def g() -> None: ...
def h() -> None: ...


def use(flat: dict) -> None:
    """Install a routing table the way the app does at start-up."""
    config.FLAT_URLS = flatten_urls(flat)
    config.URLS = finalize_urls(config.FLAT_URLS)


# flatten_urls (SPEC §4.2)


@pytest.mark.parametrize(
    ('urls', 'expected'),
    [
        ({'': f}, {'': f}),
        ({'/': f}, {'/': f}),
        ({'user': {'<user_id>': f, 'list': g}}, {'user/<user_id>/': f, 'user/list/': g}),
        ({'': {'': {'nested/<id>/': f}, 'list/': g}}, {'nested/<id>/': f, 'list/': g}),
        ({'/': {'/': {'nested/x/': f}, 'list/': g}}, {'//nested/x/': f, '/list/': g}),
        ({'admin/v2': {}}, {'admin/v2/': {}}),
        ({'a/': {'b/': {'c': f}}, 'd': g}, {'a/b/c/': f, 'd/': g}),
    ],
)
def test_flatten_examples(urls: dict, expected: dict) -> None:
    assert flatten_urls(urls) == expected


def test_flatten_keeps_dict_order() -> None:
    assert list(flatten_urls({'z': f, 'a': {'y': g, 'b': h}})) == ['z/', 'a/y/', 'a/b/']


@pytest.mark.parametrize(
    ('urls', 'message'),
    [
        ({'user/': {'<user_id>/': ...}}, "URL Can't Point To Ellipsis. ('user/<user_id>/' -> ...)"),
        ({'user': None}, "URL Can't Point To None. ('user/' -> None)"),
        ({'user/?/': f}, "URL Is Not Valid. --> 'user/?/'"),
        ({'user': {'a b': f}}, "URL Is Not Valid. --> 'user/a b/'"),
        ({'mod': types}, "URL Can't Point To Module. --> 'mod/'"),
    ],
)
def test_flatten_errors(urls: dict, message: str) -> None:
    with pytest.raises(PantherError) as info:
        flatten_urls(urls)
    assert info.value.args[0] == message


def test_flatten_accepts_dots_tildes_and_non_ascii_letters() -> None:
    # A deliberate widening of the reference's whitelist (SPEC §31.21).
    assert flatten_urls({'files/v1.2/~me/لیست': f}) == {'files/v1.2/~me/لیست/': f}


# finalize_urls (SPEC §4.3)


def test_finalize_root_with_children() -> None:
    flat = {'': f, '<index>/': g, '<index>/<id>/': h}
    assert finalize_urls(flat) == {'': f, '<index>': {'': g, '<id>': h}}


def test_finalize_reservation_and_merge() -> None:
    assert finalize_urls({'admin/v2/': {}}) == {'admin': {'v2': {}}}
    flat = {'user/list/': f, 'user/<id>/': g, 'user/<id>/profile/': h, 'admin/v2/': {}}
    assert finalize_urls(flat) == {
        'user': {'list': f, '<id>': {'': g, 'profile': h}},
        'admin': {'v2': {}},
    }


def test_finalize_endpoint_declared_after_its_children() -> None:
    assert finalize_urls({'a/b/': g, 'a/': f}) == {'a': {'b': g, '': f}}


@pytest.mark.parametrize('root', ['', '/', '///'])
def test_finalize_root_spellings(root: str) -> None:
    assert finalize_urls({root: f}) == {'': f}


def test_same_level_variables_pointing_to_dicts() -> None:
    flat = {'user/<index1>/a/': f, 'user/<index2>/': g, 'user/<index3>/b/': h}
    with pytest.raises(PantherError) as info:
        finalize_urls(flat)
    assert info.value.args[0] == (
        "URLs can't have same-level path variables that point to a dict: \n\t- /user/<index1>\n\t- /user/<index3>"
    )


def test_same_level_variables_pointing_to_endpoints() -> None:
    with pytest.raises(PantherError) as info:
        finalize_urls({'<a>/': f, '<b>/': g})
    assert info.value.args[0] == (
        "URLs can't have same-level path variables that point to an endpoint: \n\t- /<a>\n\t- /<b>"
    )


def test_one_variable_to_dict_and_one_to_endpoint_is_allowed() -> None:
    tree = finalize_urls({'<a>/x/': f, '<b>/': g})
    assert tree == {'<a>': {'x': f}, '<b>': g}
    check_urls_path_variables(tree)


# find_endpoint (SPEC §4.4, §4.5 — with backtracking, as the issue requires)


def test_not_found_constant() -> None:
    assert ENDPOINT_NOT_FOUND == (None, '')


def test_empty_routing_finds_nothing() -> None:
    use({})
    assert find_endpoint('/') == ENDPOINT_NOT_FOUND
    assert find_endpoint('/x') == ENDPOINT_NOT_FOUND


def test_root_and_found_paths() -> None:
    use({'': f, 'user/<user_id>/profile/<id>': g, 'admin/v1/<user_id2>/list/registered': h})
    assert find_endpoint('') == (f, '')
    assert find_endpoint('/') == (f, '')
    assert find_endpoint('/user/3/profile/9') == (g, 'user/<user_id>/profile/<id>')
    assert find_endpoint('/admin/v1/7/list/registered/') == (h, 'admin/v1/<user_id2>/list/registered')


@pytest.mark.parametrize('path', ['/hello/1/', 'hello/1', '/hello/1', 'hello/1/', '/hello/1?x=2', '/hello/1/?a=b'])
def test_trailing_slashes_and_query_are_insignificant(path: str) -> None:
    use({'hello/<id>/': f})
    assert find_endpoint(path) == (f, 'hello/<id>')


def test_double_slash_is_not_collapsed() -> None:
    use({'user/<id>/': f, 'user/': g})
    assert find_endpoint('/user//1') == ENDPOINT_NOT_FOUND
    assert find_endpoint('/user/1') == (f, 'user/<id>')


def test_literal_beats_variable_regardless_of_order() -> None:
    use({'user/<id>/': f, 'user/me/': g})
    assert find_endpoint('/user/me') == (g, 'user/me')
    assert find_endpoint('/user/you') == (f, 'user/<id>')


def test_backtracking_from_a_literal_to_a_variable() -> None:
    use({'a/<x>/b': f, 'a/c/d': g})
    assert find_endpoint('/a/c/b') == (f, 'a/<x>/b')
    assert find_endpoint('/a/c/d') == (g, 'a/c/d')
    assert find_endpoint('/a/z/b') == (f, 'a/<x>/b')
    assert find_endpoint('/a/z/d') == ENDPOINT_NOT_FOUND


def test_backtracking_between_variables() -> None:
    use({'<a>/x/': f, '<b>/': g})
    assert find_endpoint('/1') == (g, '<b>')
    assert find_endpoint('/1/x') == (f, '<a>/x')
    assert find_endpoint('/1/y') == ENDPOINT_NOT_FOUND


def test_backtracking_deep() -> None:
    use({'a/b/c/d/': f, 'a/<p>/c/e/': g, '<q>/b/c/f/': h})
    assert find_endpoint('/a/b/c/d') == (f, 'a/b/c/d')
    assert find_endpoint('/a/b/c/e') == (g, 'a/<p>/c/e')
    assert find_endpoint('/a/b/c/f') == (h, '<q>/b/c/f')


def test_segment_count_must_match() -> None:
    use({'user/<id>/': f})
    assert find_endpoint('/user') == ENDPOINT_NOT_FOUND
    assert find_endpoint('/user/1/2') == ENDPOINT_NOT_FOUND


def test_node_with_endpoint_and_children() -> None:
    use({'user/': f, 'user/<id>/': g})
    assert find_endpoint('/user/') == (f, 'user')
    assert find_endpoint('/user/5/') == (g, 'user/<id>')


def test_reserved_path_is_not_found() -> None:
    use({'admin/v2': {}})
    assert find_endpoint('/admin/v2') == ENDPOINT_NOT_FOUND
    # A reservation is not bypassed by backtracking into a variable sibling.
    use({'admin/v2': {}, 'admin/<section>': f})
    assert find_endpoint('/admin/v2') == ENDPOINT_NOT_FOUND
    assert find_endpoint('/admin/v3') == (f, 'admin/<section>')
    assert find_endpoint('/admin') == ENDPOINT_NOT_FOUND


def test_router_follows_config_changes() -> None:
    use({'one': f})
    assert find_endpoint('/one') == (f, 'one')
    use({'two': g})
    assert find_endpoint('/one') == ENDPOINT_NOT_FOUND
    assert find_endpoint('/two') == (g, 'two')


def test_hundred_routes_lookup() -> None:
    endpoints = [lambda i=i: i for i in range(100)]
    use({f'route{i}/<id>/': endpoints[i] for i in range(100)})
    for i in (0, 42, 99):
        assert find_endpoint(f'/route{i}/7') == (endpoints[i], f'route{i}/<id>')
    assert find_endpoint('/route100/7') == ENDPOINT_NOT_FOUND


# Through the application


def _numbered(i: int):
    @API()
    async def endpoint(id: int):
        return {'route': i, 'id': id}

    return endpoint


async def test_last_of_hundred_parameterised_routes_over_http() -> None:
    app = make_app({f'items{i}/<id>/': _numbered(i) for i in range(100)})
    res = await APIClient(app).get('/items99/12')
    assert (res.status_code, res.data) == (200, {'route': 99, 'id': 12})


@API()
async def show_path(request: Request):
    return {'path': request.path, 'vars': request.path_variables}


@API()
async def show_other(request: Request):
    return {'other': request.path_variables}


async def test_backtracking_over_http_collects_the_right_variables() -> None:
    app = make_app({'a/<x>/b': show_path, 'a/c/d': show_other})
    client = APIClient(app)
    res = await client.get('/a/c/b')
    assert res.data == {'path': '/a/c/b', 'vars': {'x': 'c'}}
    res = await client.get('/a/c/d/')
    assert res.data == {'other': {}}


async def test_percent_decoded_path_variable() -> None:
    res = await APIClient(make_app({'user/<name>': show_path})).get('/user/John Doe')
    assert res.data == {'path': '/user/John Doe', 'vars': {'name': 'John Doe'}}


async def test_app_answers_404_for_a_reserved_path_next_to_a_variable() -> None:
    from panther.app import API
    from panther.test import APIClient
    from tests._core_helpers import make_app

    @API()
    async def section(name: str) -> dict[str, str]:
        return {'section': name}

    client = APIClient(make_app({'admin/v2': {}, 'admin/<name>': section}))
    assert (await client.get('/admin/v2')).status_code == 404
    assert (await client.get('/admin/v2/')).status_code == 404
    assert (await client.get('/admin/v3')).data == {'section': 'v3'}


class PassThrough(HTTPMiddleware):
    """Any global middleware sends requests through the router's general lookup instead of the fast path."""

    async def __call__(self, request: Request) -> Response:
        return await self.dispatch(request=request)


@pytest.fixture(params=['fast path', 'with a middleware'])
def middlewares(request: pytest.FixtureRequest) -> list[type[HTTPMiddleware]]:
    return [] if request.param == 'fast path' else [PassThrough]


@pytest.mark.parametrize(
    'path',
    ['/user//profile/', '/user//profile', '//profile/', '/user//', '/user/', '/pair//', '/two///'],
)
async def test_an_empty_segment_never_fills_a_path_variable(path: str, middlewares: list) -> None:
    urls = {'user/<id>/profile/': show_path, '<section>/profile/': show_other, 'pair/<x>/': show_path}
    urls['two/<a>/<b>/'] = show_path
    client = APIClient(make_app(urls, MIDDLEWARES=middlewares))
    res = await client.get(path)
    assert (res.status_code, res.data) == (404, {'detail': 'Not Found'})
    # The same routes match once the variable has a value.
    assert (await client.get('/user/1/profile/')).data == {'path': '/user/1/profile/', 'vars': {'id': '1'}}
    assert (await client.get('/pair/x')).data == {'path': '/pair/x', 'vars': {'x': 'x'}}


@pytest.mark.parametrize('path', ['/items/5/', '/items/5', '/items/', '/items/5/6/'])
async def test_empty_sub_table_under_a_variable_is_404(path: str, middlewares: list) -> None:
    client = APIClient(make_app({'items/': {'<id>/': {}}}, MIDDLEWARES=middlewares))
    res = await client.get(path)
    assert (res.status_code, res.data) == (404, {'detail': 'Not Found'})


def test_empty_sub_table_under_a_variable_is_not_found() -> None:
    use({'items/': {'<id>/': {}}})
    assert find_endpoint('items/5') == ENDPOINT_NOT_FOUND
    use({'items/': {'<id>/': {}}, 'items/<id>/x/': f})
    assert find_endpoint('items/5') == ENDPOINT_NOT_FOUND
    assert find_endpoint('items/5/x') == (f, 'items/<id>/x')


NON_CANONICAL = [
    '//auth/login/',
    '///auth/login/',
    '/auth//login/',
    '/auth/login//',
    '/./auth/login/',
    '/auth/./login/',
    '/auth/login/.',
    '/auth/../auth/login/',
    '/auth/x/../login/',
    '//',
]


@pytest.mark.parametrize('path', NON_CANONICAL)
async def test_non_canonical_spellings_are_404_everywhere(path: str, middlewares: list) -> None:
    # One spelling per route (trailing slash optional): another spelling must not reach the endpoint, or a
    # throttle keyed by path could be sidestepped by spelling the path differently.
    urls = {'': show_path, 'auth/': {'login/': show_path, '<step>/': show_other}}
    client = APIClient(make_app(urls, MIDDLEWARES=middlewares))
    res = await client.get(path)
    assert (res.status_code, res.data) == (404, {'detail': 'Not Found'})
    use(urls)
    assert find_endpoint(path) == ENDPOINT_NOT_FOUND
    for canonical in ('/auth/login/', '/auth/login'):
        assert (await client.get(canonical)).data == {'path': canonical, 'vars': {}}


async def test_dots_inside_a_segment_are_ordinary_characters() -> None:
    client = APIClient(make_app({'.well-known/': {'<name>/': show_path}, 'v1.2/': show_path}))
    assert (await client.get('/.well-known/security.txt')).data['vars'] == {'name': 'security.txt'}
    assert (await client.get('/v1.2/')).status_code == 200
    assert (await client.get('/.well-known/..')).status_code == 404


async def test_the_request_knows_its_route_pattern(middlewares: list) -> None:
    seen: list[str | None] = []

    @API()
    async def record(request: Request) -> dict:
        seen.append(request.route)
        return {}

    client = APIClient(make_app({'': record, 'notes/<note_id>/': record, 'a/b': record}, MIDDLEWARES=middlewares))
    for path in ('/', '/notes/5/', '/notes/5', '/a/b/'):
        assert (await client.get(path)).status_code == 200
    assert seen == ['', 'notes/<note_id>', 'notes/<note_id>', 'a/b']
