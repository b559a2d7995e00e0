"""The X-Forwarded-Client-Cert parser and renderer."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.auth.xfcc import XfccElement, XfccSyntaxError, parse_xfcc, render_xfcc
from tests.auth.conftest import BILLING, BROKER, xfcc

TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
# Characters with a meaning in the header, mixed into generated text so that hypothesis hits
# quoting, escaping and separators often.
SPECIAL = ',;="\\ \t'

keys = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=8)
values = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=SPECIAL + "URIspiffe:/ab=", max_size=30),
)
elements = st.builds(
    XfccElement,
    st.lists(st.tuples(keys, values), min_size=1, max_size=6).map(tuple),
)


@given(st.lists(elements, min_size=1, max_size=5))
@example([XfccElement((("Subject", 'CN=a,"b";c=\\'),))])
@example([XfccElement((("URI", " padded "), ("URI", "")))])
def test_round_trip_any_elements(generated: list[XfccElement]) -> None:
    parsed = parse_xfcc(render_xfcc(generated))

    assert list(parsed) == generated


@given(st.text(max_size=60))
def test_parse_raises_only_syntax_error(header: str) -> None:
    try:
        parsed = parse_xfcc(header)
    except XfccSyntaxError:
        return
    assert len(parsed) >= 1


@given(st.text(alphabet=SPECIAL + "URIab", max_size=40))
@example('URI=spiffe://cluster.local/ns/ops/sa/maintenance;a="')
@example('a="\\')
def test_forged_prefix_never_moves_last(prefix: str) -> None:
    # Whatever a caller sends, the sidecar appends its element after a comma. The parse either
    # fails or ends with exactly that element.
    trusted = xfcc(BILLING)

    try:
        parsed = parse_xfcc(prefix + "," + trusted)
    except XfccSyntaxError:
        return
    assert parsed[-1] == parse_xfcc(trusted)[0]


def test_parse_istio_element() -> None:
    (element,) = parse_xfcc(xfcc(BILLING))

    assert element.values("By") == (BROKER,)
    assert element.values("Hash") == (
        "9b3c2a7f0d1e4c5b6a79880f1e2d3c4b5a69788f0e1d2c3b4a5968778f0e1d2c",
    )
    assert element.values("Subject") == ("",)
    assert element.values("URI") == (BILLING,)


def test_parse_dns_and_quoted_subject() -> None:
    header = (
        'By=spiffe://cluster.local/ns/a/sa/b;Subject="CN=Smith\\, John,O=\\"Acme\\", Inc";'
        "URI=spiffe://cluster.local/ns/c/sa/d;DNS=billing.example.com;DNS=www.example.com"
    )

    (element,) = parse_xfcc(header)

    # `\,` is an RFC 4514 escape of the subject and is kept; `\"` is the XFCC quote escape.
    assert element.values("Subject") == ('CN=Smith\\, John,O="Acme", Inc',)
    assert element.values("DNS") == ("billing.example.com", "www.example.com")


def test_parse_keys_case_insensitive() -> None:
    (element,) = parse_xfcc(f"uri={BILLING};HASH=abc")

    assert element.values("URI") == (BILLING,)
    assert element.values("hash") == ("abc",)
    assert element.pairs == (("uri", BILLING), ("HASH", "abc"))


def test_parse_forged_first_and_real_last() -> None:
    forged = "URI=spiffe://cluster.local/ns/ops/sa/maintenance"

    parsed = parse_xfcc(forged + "," + xfcc(BILLING))

    assert len(parsed) == 2
    assert parsed[0].values("URI") == ("spiffe://cluster.local/ns/ops/sa/maintenance",)
    assert parsed[-1].values("URI") == (BILLING,)


def test_parse_quoted_separators_in_value() -> None:
    parsed = parse_xfcc('URI="spiffe://x/a,b;c=d";By=e')

    assert len(parsed) == 1
    assert parsed[0].values("URI") == ("spiffe://x/a,b;c=d",)
    assert parsed[0].values("By") == ("e",)


def test_parse_empty_uri() -> None:
    (element,) = parse_xfcc('By=spiffe://x/y;Hash=abc;Subject="";URI=')

    assert element.values("URI") == ("",)


def test_parse_whitespace_around_separators() -> None:
    parsed = parse_xfcc("By=a ; URI = b , URI=c\t")

    assert [element.pairs for element in parsed] == [(("By", "a"), ("URI", "b")), (("URI", "c"),)]


@pytest.mark.parametrize(
    ("header", "position", "reason"),
    [
        ("", 0, "expected a key"),
        ("   ", 3, "expected a key"),
        ("URI", 3, "expected '=' after the key"),
        ("URI=a;", 6, "expected a key"),
        ("URI=a,", 6, "expected a key"),
        (",URI=a", 0, "expected a key"),
        ("URI=a,,URI=b", 6, "expected a key"),
        ("=value", 0, "expected a key"),
        ("U RI=a", 2, "expected '=' after the key"),
        ("S\u00fcbject=x", 1, "expected '=' after the key"),
        ('URI="spiffe://unterminated', 26, "unterminated quoted value"),
        ('URI="a\\', 7, "unterminated quoted value"),
        ('Subject="a"b', 11, "expected ';' or ',' after the value"),
        ('URI=a"b', 5, "expected ';' or ',' after the value"),
    ],
)
def test_parse_garbage(header: str, position: int, reason: str) -> None:
    with pytest.raises(XfccSyntaxError) as raised:
        parse_xfcc(header)

    assert raised.value.position == position
    assert raised.value.reason == reason


def test_syntax_error_omits_header_text() -> None:
    with pytest.raises(XfccSyntaxError) as raised:
        parse_xfcc('URI="canary-value-7f3a')

    assert "canary-value-7f3a" not in str(raised.value)
    assert str(raised.value) == (
        "invalid X-Forwarded-Client-Cert header at character 22: unterminated quoted value"
    )


@pytest.mark.parametrize("key", ["", "U RI", "Subject=", 'A"', "Sch\u00fcssel"])
def test_render_rejects_bad_key(key: str) -> None:
    with pytest.raises(ValueError, match="is not an RFC 9110 token"):
        render_xfcc([XfccElement(((key, "value"),))])


def test_render_rejects_empty() -> None:
    with pytest.raises(ValueError, match="at least one element"):
        render_xfcc([])
    with pytest.raises(ValueError, match="at least one key=value pair"):
        render_xfcc([XfccElement(())])


def test_render_quotes_only_when_needed() -> None:
    rendered = render_xfcc(
        [XfccElement((("URI", BILLING), ("Subject", 'a;b"c\\d'), ("DNS", " x")))]
    )

    assert rendered == f'URI={BILLING};Subject="a;b\\"c\\\\d";DNS=" x"'
