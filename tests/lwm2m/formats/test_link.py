"""CoRE Link Format (RFC 6690, content-format 40) as LwM2M uses it: Register payloads and Discover responses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from m2mclient.errors import FormatError
from m2mclient.lwm2m import formats
from m2mclient.lwm2m.formats import link
from m2mclient.lwm2m.formats.link import Link
from m2mclient.lwm2m.model import Path

# --- LwM2M payloads, exact bytes both ways --------------------------------------------------------

REGISTER_1_2 = b'</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>;ver=1.2'
REGISTER_LINKS = [
    Link("/", (("rt", "oma.lwm2m"), ("ct", "11543"))),
    Link("/1/0"),
    Link("/3/0", (("ver", "1.2"),)),
]

DISCOVER = b"</3/0>;pmin=10,</3/0/1>,</3/0/6>;dim=2"
DISCOVER_LINKS = [Link("/3/0", (("pmin", "10"),)), Link("/3/0/1"), Link("/3/0/6", (("dim", "2"),))]

PAYLOADS = [
    pytest.param(REGISTER_1_2, REGISTER_LINKS, id="register-1.2"),
    pytest.param(DISCOVER, DISCOVER_LINKS, id="discover"),
    pytest.param(b"</1/0>,</2/0>,</3/0>,</4/0>", [Link(f"/{o}/0") for o in (1, 2, 3, 4)], id="register-1.0"),
    pytest.param(
        b'</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3/0>',
        [Link("/lwm2m", (("rt", "oma.lwm2m"),)), Link("/lwm2m/1/0"), Link("/lwm2m/3/0")],
        id="alternate-path",
    ),
    pytest.param(
        b"</3>;ver=1.1,</3/0>,</3/0/7>;dim=2,</3/0/13>;pmin=5;pmax=60;gt=20.5;st=0.5",
        [
            Link("/3", (("ver", "1.1"),)),
            Link("/3/0"),
            Link("/3/0/7", (("dim", "2"),)),
            Link("/3/0/13", (("pmin", "5"), ("pmax", "60"), ("gt", "20.5"), ("st", "0.5"))),
        ],
        id="discover-attributes",
    ),
    pytest.param(b'</>;ct="60 110 11543"', [Link("/", (("ct", "60 110 11543"),))], id="several-ct"),
    pytest.param(b"</3/0/1>;obs;pmin=1", [Link("/3/0/1", (("obs", None), ("pmin", "1")))], id="flag-param"),
    pytest.param(b"", [], id="empty"),
]


@pytest.mark.parametrize(("payload", "links"), PAYLOADS)
def test_decodes(payload: bytes, links: list[Link]) -> None:
    assert link.decode(payload) == links


@pytest.mark.parametrize(("payload", "links"), PAYLOADS)
def test_encodes_byte_for_byte(payload: bytes, links: list[Link]) -> None:
    assert link.encode(links) == payload


def test_register_payload_accessors() -> None:
    root, server, device = link.decode(REGISTER_1_2)
    assert root.path == Path(())
    assert root.get("rt") == "oma.lwm2m"
    assert root.get("ct") == "11543"
    assert server.path == Path.of(1, 0)
    assert device.get("ver") == "1.2"
    assert device.get("pmin") is None


# --- quoting and escaping --------------------------------------------------------------------------


def test_quoted_string_holds_separators_and_escaped_quotes() -> None:
    payload = b'</a>;title="x, y; \\"z\\" \\\\ w",</b>'
    links = link.decode(payload)
    assert links == [Link("/a", (("title", 'x, y; "z" \\ w'),)), Link("/b")]
    assert link.encode(links) == payload


def test_quoted_pair_of_any_character_stands_for_it() -> None:
    assert link.decode(b'</a>;x="\\a\\,"') == [Link("/a", (("x", "a,"),))]


def test_ptoken_may_contain_equals_and_other_ptoken_chars() -> None:
    links = link.decode(b"</a>;foo=a=b;bar=<x>/y?z:1@[2]")
    assert links == [Link("/a", (("foo", "a=b"), ("bar", "<x>/y?z:1@[2]")))]
    assert link.encode(links) == b"</a>;foo=a=b;bar=<x>/y?z:1@[2]"


def test_bare_and_quoted_values_decode_alike() -> None:
    assert link.decode(b"</>;rt=oma.lwm2m;ct=40") == link.decode(b'</>;rt="oma.lwm2m";ct="40"')


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ((("rt", "oma.lwm2m"),), '</x>;rt="oma.lwm2m"'),
        ((("if", "core.s"),), '</x>;if="core.s"'),
        ((("title", "t"),), '</x>;title="t"'),
        ((("anchor", "/y"),), '</x>;anchor="/y"'),
        ((("RT", "a"),), '</x>;RT="a"'),
        ((("ct", "11543"),), "</x>;ct=11543"),
        ((("ct", "60 110"),), '</x>;ct="60 110"'),
        ((("ver", "1.2"),), "</x>;ver=1.2"),
        ((("ep", "urn:imei:123"),), "</x>;ep=urn:imei:123"),
        ((("a", ""),), '</x>;a=""'),
        ((("a", "x,y"),), '</x>;a="x,y"'),
        ((("a", "x;y"),), '</x>;a="x;y"'),
        ((("a", 'say "hi"'),), '</x>;a="say \\"hi\\""'),
        ((("a", "café"),), '</x>;a="café"'),
        ((("a", "tab\there"),), '</x>;a="tab\there"'),
        ((("obs", None),), "</x>;obs"),
        ((("title*", "UTF-8'en'%E2%82%AC"),), "</x>;title*=UTF-8'en'%E2%82%AC"),
    ],
)
def test_serialization_rule(params: tuple[tuple[str, str | None], ...], text: str) -> None:
    one = Link("/x", params)
    assert str(one) == text
    assert link.encode([one]) == text.encode("utf-8")
    assert link.decode(text.encode("utf-8")) == [one]


# --- whitespace ------------------------------------------------------------------------------------


def test_whitespace_around_separators_and_ends_is_tolerated() -> None:
    payload = b" \r\n</1/0> ,\n  </3/0> ; ver=1.2 ;\tobs\n"
    assert link.decode(payload) == [Link("/1/0"), Link("/3/0", (("ver", "1.2"), ("obs", None)))]


@pytest.mark.parametrize(
    "payload",
    [
        b"</3/0>;ver =1.2",  # not around '='
        b"</3/0>;ver= 1.2",
        b"< /3/0>",  # not inside a target
        b"</3 /0>",
        b"</3/0>;ver=1 .2",  # not inside a token
    ],
)
def test_whitespace_elsewhere_is_refused(payload: bytes) -> None:
    with pytest.raises(FormatError):
        link.decode(payload)


# --- the Link helpers ------------------------------------------------------------------------------


def test_link_of() -> None:
    assert Link.of("/3/0", ver="1.2") == Link("/3/0", (("ver", "1.2"),))
    assert Link.of(Path.of(3, 0, 1), pmin=10, gt=2.5, obs=None) == Link(
        "/3/0/1", (("pmin", "10"), ("gt", "2.5"), ("obs", None))
    )
    assert Link.of("/") == Link("/")
    assert str(Link.of("/3/0/6", dim=2)) == "</3/0/6>;dim=2"
    assert Link.of("/x", target="t") == Link("/x", (("target", "t"),))


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/", Path(())),
        ("/3", Path.of(3)),
        ("/3/0", Path.of(3, 0)),
        ("/3/0/1", Path.of(3, 0, 1)),
        ("/3/0/6/1", Path.of(3, 0, 6, 1)),
        ("/65534/65534", Path.of(65534, 65534)),
        ("/3/0/", None),
        ("/65535", None),
        ("/03", None),
        ("/3/0/6/1/2", None),
        ("/rd", None),
        ("/lwm2m/3/0", None),
        ("3/0", None),
        ("coap://host/3/0", None),
        ("", None),
    ],
)
def test_link_path(target: str, path: Path | None) -> None:
    assert Link(target).path == path


def test_get_and_has() -> None:
    one = Link("/3/0", (("pmin", "10"), ("obs", None), ("PMIN", "20")))
    assert one.get("pmin") == "10"  # the first one wins
    assert one.get("Pmin") == "10"  # names are case-insensitive (RFC 8288 §3)
    assert one.get("obs") is None
    assert one.has("obs") and one.has("OBS")
    assert not one.has("pmax")
    assert one.get("pmax") is None


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message", "where"),
    [
        (b"/1/0", "expected '<' starting a link", "byte 0"),
        (b"</1/0>,/3/0", "expected '<'", "byte 7"),
        (b"</1/0", "unterminated link target", "byte 0"),
        (b"<>", "empty link target", "byte 0"),
        (b"</1/0>,<>", "empty link target", "byte 7"),
        (b'</1/0>;title="abc', "unterminated quoted string", "byte 13"),
        (b'</1/0>;title="abc\\', "unterminated quoted string", "byte 13"),
        (b'</1/0>;title="a\nb"', "control character", "byte 15"),
        (b"</1/0>,\xff", "not valid UTF-8", "byte 7"),
        (b'</1/0>;title="caf\xc3"', "not valid UTF-8", "byte 17"),
        (b"</1/0>,", "expected '<'", "byte 7"),  # a trailing comma
        (b"</1/0>,,</3/0>", "expected '<'", "byte 7"),
        (b"</1/0>;", "expected a parameter name", "byte 7"),
        (b"</1/0>;;a", "expected a parameter name", "byte 7"),
        (b"</1/0>;=x", "expected a parameter name", "byte 7"),
        (b"</1/0>;a=", "has '=' but no value", "byte 9"),
        (b"</1/0>;a=,</2>", "has '=' but no value", "byte 9"),
        (b"</1/0>;a=b c", "expected ',' between links", "byte 11"),
        (b'</1/0>;a=b"c"', "expected ',' between links", "byte 10"),
        (b'</1/0>;a="b"c', "expected ',' between links", "byte 12"),
        (b"</1/0> </3/0>", "expected ',' between links", "byte 7"),
        (b"</1/0>x", "expected ',' between links", "byte 6"),
        (b'</1"0>', "not allowed in a link target", "byte 3"),
        (b"</1<0>", "not allowed in a link target", "byte 3"),
        (b"</1/0>;a\x00", "expected ','", "byte 8"),
    ],
)
def test_malformed_payloads(payload: bytes, message: str, where: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        link.decode(payload)
    assert info.value.content_format == link.CONTENT_FORMAT
    assert info.value.where == where


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Link(""), "non-empty"),
        (Link("/a>b"), "not allowed in a URI"),
        (Link("/a b"), "not allowed in a URI"),
        (Link("/a\nb"), "not allowed in a URI"),
        (Link('/a"'), "not allowed in a URI"),
        (Link("/a", (("", "x"),)), "invalid parameter name"),
        (Link("/a", (("a b", "x"),)), "invalid parameter name"),
        (Link("/a", (("a=b", "x"),)), "invalid parameter name"),
        (Link("/a", (("*", "x"),)), "invalid parameter name"),
        (Link("/a", (("é", "x"),)), "invalid parameter name"),
        (Link("/a", (("a", "line\nbreak"),)), "control character"),
        (Link("/a", (("a", 5),)), "must be a string"),  # type: ignore[arg-type]
        (Link("/a", (("a", "\ud800"),)), "UTF-8"),
        (Link("/\ud800"), "UTF-8"),
    ],
)
def test_unencodable_links(bad: Link, message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        link.encode([Link("/ok"), bad])
    assert info.value.content_format == link.CONTENT_FORMAT


def test_str_does_not_validate() -> None:
    assert str(Link("/a b", (("a", "x\ny"),))) == '</a b>;a="x\ny"'


# --- the public entry point ------------------------------------------------------------------------


def test_through_formats_entry_point() -> None:
    assert formats.decode_links(REGISTER_1_2) == REGISTER_LINKS
    assert formats.encode_links(DISCOVER_LINKS) == DISCOVER
    assert formats.decode_links(bytearray(DISCOVER)) == DISCOVER_LINKS
    assert formats.Link is Link
    assert formats.lookup(40).media_type == "application/link-format"
    with pytest.raises(FormatError):
        formats.decode_links(b"</1/0")


# --- properties ------------------------------------------------------------------------------------

TARGET_CHARS = st.sampled_from("abcXYZ0129/-._~:@!$&'()*+,;=?#[]%é")
PARAM_NAME = st.from_regex(r"[a-zA-Z0-9!#$&+\-.^_`|~]{1,8}\*?", fullmatch=True)
PARAM_VALUE = st.none() | st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc",)) | st.sampled_from('",;=<> \t\\'), max_size=12
)
LINKS = st.lists(
    st.builds(
        Link,
        st.text(TARGET_CHARS, min_size=1, max_size=12),
        st.lists(st.tuples(PARAM_NAME, PARAM_VALUE), max_size=4).map(tuple),
    ),
    max_size=4,
)


@given(LINKS)
def test_roundtrip_property(links: list[Link]) -> None:
    payload = link.encode(links)
    assert link.decode(payload) == links
    assert link.encode(link.decode(payload)) == payload


@given(st.lists(st.integers(0, 65534), min_size=0, max_size=4))
def test_lwm2m_path_targets_roundtrip(ids: list[int]) -> None:
    path = Path(tuple(ids))
    (decoded,) = link.decode(link.encode([Link.of(path)]))
    assert decoded.path == path


def _decodes_or_format_error(payload: bytes) -> None:
    try:
        links = link.decode(payload)
    except FormatError as exc:
        assert exc.content_format == link.CONTENT_FORMAT
        assert exc.where is not None and exc.where.startswith("byte ")
        return
    assert all(isinstance(one, Link) and one.target for one in links)
    assert link.decode(link.encode(links)) == links  # whatever parses re-encodes to the same links


@given(st.binary(max_size=64))
def test_fuzz_any_bytes(payload: bytes) -> None:
    _decodes_or_format_error(payload)


@given(st.text(st.sampled_from('<>/;,="\\ \t\n03ab*é\x00'), max_size=40))
def test_fuzz_link_alphabet(text: str) -> None:
    _decodes_or_format_error(text.encode("utf-8"))


@given(LINKS, st.integers(0, 200), st.integers(1, 255))
def test_fuzz_mutated_valid_payloads(links: list[Link], index: int, flip: int) -> None:
    payload = link.encode(links)
    _decodes_or_format_error(payload[:index])
    if payload:
        mutated = bytearray(payload)
        mutated[index % len(payload)] ^= flip
        _decodes_or_format_error(bytes(mutated))
