from __future__ import annotations

import pytest

from panther import status

HTTP_CODES = {
    100: 'CONTINUE', 101: 'SWITCHING_PROTOCOLS', 102: 'PROCESSING', 103: 'EARLY_HINTS',
    200: 'OK', 201: 'CREATED', 202: 'ACCEPTED', 203: 'NON_AUTHORITATIVE_INFORMATION', 204: 'NO_CONTENT',
    205: 'RESET_CONTENT', 206: 'PARTIAL_CONTENT', 207: 'MULTI_STATUS', 208: 'ALREADY_REPORTED', 226: 'IM_USED',
    300: 'MULTIPLE_CHOICES', 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 304: 'NOT_MODIFIED',
    305: 'USE_PROXY', 306: 'RESERVED', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT',
    400: 'BAD_REQUEST', 401: 'UNAUTHORIZED', 402: 'PAYMENT_REQUIRED', 403: 'FORBIDDEN', 404: 'NOT_FOUND',
    405: 'METHOD_NOT_ALLOWED', 406: 'NOT_ACCEPTABLE', 407: 'PROXY_AUTHENTICATION_REQUIRED', 408: 'REQUEST_TIMEOUT',
    409: 'CONFLICT', 410: 'GONE', 411: 'LENGTH_REQUIRED', 412: 'PRECONDITION_FAILED',
    413: 'REQUEST_ENTITY_TOO_LARGE', 414: 'REQUEST_URI_TOO_LONG', 415: 'UNSUPPORTED_MEDIA_TYPE',
    416: 'REQUESTED_RANGE_NOT_SATISFIABLE', 417: 'EXPECTATION_FAILED', 418: 'IM_A_TEAPOT',
    421: 'MISDIRECTED_REQUEST', 422: 'UNPROCESSABLE_ENTITY', 423: 'LOCKED', 424: 'FAILED_DEPENDENCY',
    425: 'TOO_EARLY', 426: 'UPGRADE_REQUIRED', 428: 'PRECONDITION_REQUIRED', 429: 'TOO_MANY_REQUESTS',
    431: 'REQUEST_HEADER_FIELDS_TOO_LARGE', 451: 'UNAVAILABLE_FOR_LEGAL_REASONS', 500: 'INTERNAL_SERVER_ERROR',
    501: 'NOT_IMPLEMENTED', 502: 'BAD_GATEWAY', 503: 'SERVICE_UNAVAILABLE', 504: 'GATEWAY_TIMEOUT',
    505: 'HTTP_VERSION_NOT_SUPPORTED', 506: 'VARIANT_ALSO_NEGOTIATES', 507: 'INSUFFICIENT_STORAGE',
    508: 'LOOP_DETECTED', 510: 'NOT_EXTENDED', 511: 'NETWORK_AUTHENTICATION_REQUIRED',
}  # fmt: skip

WS_CODES = {
    1000: 'NORMAL_CLOSURE', 1001: 'GOING_AWAY', 1002: 'PROTOCOL_ERROR', 1003: 'UNSUPPORTED_DATA',
    1007: 'INVALID_FRAME_PAYLOAD_DATA', 1008: 'POLICY_VIOLATION', 1009: 'MESSAGE_TOO_BIG', 1010: 'MANDATORY_EXT',
    1011: 'INTERNAL_ERROR', 1012: 'SERVICE_RESTART', 1013: 'TRY_AGAIN_LATER', 1014: 'BAD_GATEWAY',
}  # fmt: skip


@pytest.mark.parametrize(('code', 'name'), sorted(HTTP_CODES.items()))
def test_http_constant_and_text(code: int, name: str) -> None:
    assert getattr(status, f'HTTP_{code}_{name}') == code
    assert status.status_text[code] == name.replace('_', ' ').title()


@pytest.mark.parametrize(('code', 'name'), sorted(WS_CODES.items()))
def test_websocket_constant_and_text(code: int, name: str) -> None:
    assert getattr(status, f'WS_{code}_{name}') == code
    assert status.status_text[code] == name.replace('_', ' ').title()


def test_status_text_examples_from_the_spec() -> None:
    assert status.status_text[200] == 'Ok'
    assert status.status_text[203] == 'Non Authoritative Information'
    assert status.status_text[418] == 'Im A Teapot'
    assert status.status_text[1000] == 'Normal Closure'


def test_status_text_covers_exactly_the_constants() -> None:
    assert set(status.status_text) == set(HTTP_CODES) | set(WS_CODES)


@pytest.mark.parametrize('absent', [1004, 1005, 1006, 1015])
def test_reserved_websocket_codes_are_absent(absent: int) -> None:
    assert absent not in status.status_text
    assert not [name for name in dir(status) if name.startswith(f'WS_{absent}_')]


@pytest.mark.parametrize(
    ('func', 'low', 'high'),
    [
        (status.is_informational, 100, 199),
        (status.is_success, 200, 299),
        (status.is_redirect, 300, 399),
        (status.is_client_error, 400, 499),
        (status.is_server_error, 500, 599),
    ],
)
def test_class_predicates_have_exact_bounds_and_return_bool(func, low: int, high: int) -> None:
    assert func(low) is True
    assert func(high) is True
    assert func(low - 1) is False
    assert func(high + 1) is False
