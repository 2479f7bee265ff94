"""The oneM2M request query (m2mclient.onem2m.query), shared by the HTTP and CoAP bindings.

* Vectors: TS-0009 §6.2.2.2's examples and tables, each with its HTTP query string
  and its CoAP Uri-Query options, encoded and read back in both spellings.
* The table of the spec (Table 6.2.2.2-1) against the parser; the escaping rules of
  each transport; what is refused when writing and when reading.
* hypothesis: parameters -> items -> parameters in both dialects, and the parser on
  garbage gives parameters or a OneM2MProtocolError, nothing else.

The bindings' own tests check only how each joins the items (``&`` / one option each).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m2mclient.onem2m.primitives import (
    Attribute,
    DiscoveryResultType,
    FilterCriteria,
    FilterOperation,
    FilterUsage,
    OneM2MProtocolError,
    OneM2MUsageError,
    Operation,
    Rcn,
    RequestPrimitive,
    ResourceType,
    ResponseStatusCode,
    ResponseType,
    ResponseTypeInfo,
)
from m2mclient.onem2m.query import (
    COAP_URI_QUERY,
    HTTP_QUERY,
    MAX_DIGITS,
    QueryDialect,
    non_negative_int,
    number_or_text,
    partial_retrieve,
    query_to_parameters,
    request_fields,
    request_query_items,
)

RSC = ResponseStatusCode
R = Operation.RETRIEVE
DIALECTS = [pytest.param(HTTP_QUERY, id="http"), pytest.param(COAP_URI_QUERY, id="coap")]


def retrieve(to: str = "x", **kwargs: Any) -> RequestPrimitive:
    return RequestPrimitive(op=R, to=to, rqi="r", **kwargs)


def http_query(request: RequestPrimitive) -> str:
    """The query string as the HTTP binding writes it: the items joined by '&'."""
    _, attributes = partial_retrieve(request)
    return "&".join(f"{n}={v}" for n, v in request_query_items(request, attributes, HTTP_QUERY))


def coap_query(request: RequestPrimitive) -> tuple[str, ...]:
    """The Uri-Query options as the CoAP binding writes them: one item each."""
    _, attributes = partial_retrieve(request)
    return tuple(f"{n}={v}" for n, v in request_query_items(request, attributes, COAP_URI_QUERY))


def split(items: str | tuple[str, ...]) -> list[tuple[str, str]]:
    parts = [part for part in items.split("&") if part] if isinstance(items, str) else items
    return [(name, value) for name, _, value in (part.partition("=") for part in parts)]


def read_back(items: str | tuple[str, ...], dialect: QueryDialect, to: str = "x") -> RequestPrimitive:
    query = query_to_parameters(split(items), dialect)
    return RequestPrimitive(op=R, rqi="r", **request_fields(query, op=R, to=to, pc=None, nu=None, dialect=dialect))


# ---------------------------------------------------------------------------
# Vectors: one parameter set, its HTTP query string and its CoAP options
# ---------------------------------------------------------------------------

GEOMETRY = "[[0.0,0.0],[0.0,100.0], [100.0,100.0], [100.0,0.0],[0.0,0.0]]"
EVERY_FILTER = FilterCriteria(
    crb="20260101T000000",
    cra="20250101T000000",
    ms="20250601T000000",
    us="20270101T000000",
    sts=5,
    stb=1,
    exb="20300101T000000",
    exa="20260101T000000",
    lbl=("l",),
    clbl=("cl",),
    plbl=("pl",),
    ty=(4,),
    chty=(3,),
    pty=(2,),
    sza=1,
    szb=100,
    cty=("text/plain",),
    atr=(Attribute("cr", "Sam"),),
    catr=(Attribute("rn", "c"),),
    patr=(Attribute("lbl", "p"),),
    fu=FilterUsage.DISCOVERY,
    lim=10,
    smf=("s",),
    fo=FilterOperation.OR,
    cfs=1,
    cfq="a=1",
    lvl=2,
    ofst=3,
    arp="la",
    gmty=3,
    geom="[1]",
    gsf=1,
)
EVERY_FILTER_ITEMS = (
    "crb=20260101T000000&cra=20250101T000000&ms=20250601T000000&us=20270101T000000&sts=5&stb=1"
    "&exb=20300101T000000&exa=20260101T000000&lbl=l&clbl=cl&plbl=pl&ty=4&chty=3&pty=2&sza=1&szb=100"
    "&cty=text/plain&cr=Sam&c.rn=c&p.lbl=p&fu=1&lim=10&smf=s&fo=2&cfs=1&cfq=a{eq}1&lvl=2&ofst=3&arp=la"
    "&gmty=3&geom={lb}1{rb}&gsf=1"
)


@dataclasses.dataclass(frozen=True)
class Vector:
    request: RequestPrimitive
    http: str
    coap: tuple[str, ...]
    back: RequestPrimitive | None = None  # what comes back, where it is not the request itself


VECTORS = {
    # TS-0009 §6.2.2.2 EXAMPLE 1
    "example-1-non-blocking": Vector(
        retrieve(rt=ResponseTypeInfo(rtv=ResponseType.NON_BLOCKING_REQUEST_SYNCH), rp="P1Y2M3DT10H1M0S"),
        "rt=1&rp=P1Y2M3DT10H1M0S",
        ("rt=1", "rp=P1Y2M3DT10H1M0S"),
    ),
    # EXAMPLE 2: containers whose creator is Sam
    "example-2-discovery": Vector(
        retrieve(
            fc=FilterCriteria(ty=(ResourceType.CONTAINER,), atr=(Attribute("cr", "Sam"),), fu=FilterUsage.DISCOVERY)
        ),
        "ty=3&cr=Sam&fu=1",
        ("ty=3", "cr=Sam", "fu=1"),
    ),
    # EXAMPLE 4 (the spec writes "gmtty"; see test_geometry_type_spellings). Spaces and
    # brackets are not query characters in a URL (RFC 3986); an option carries them as they are.
    "example-4-geo": Vector(
        retrieve(fc=FilterCriteria(fu=FilterUsage.DISCOVERY, gmty=3, geom=GEOMETRY, gsf=1)),
        "fu=1&gmty=3&geom=%5B%5B0.0,0.0%5D,%5B0.0,100.0%5D,%20%5B100.0,100.0%5D,%20%5B100.0,0.0%5D,%5B0.0,0.0%5D%5D&gsf=1",
        ("fu=1", "gmty=3", f"geom={GEOMETRY}", "gsf=1"),
    ),
    # Partial retrieve, cases 1 and 2: names in m2m:atrl, or one after '#' in To.
    "partial-retrieve-case-1": Vector(
        retrieve(pc={"m2m:atrl": ["ri", "lbl", "rr"]}), "atrl=ri+lbl+rr", ("atrl=ri+lbl+rr",)
    ),
    "partial-retrieve-case-2": Vector(retrieve("x#rr"), "atrl=rr", ("atrl=rr",)),
    # Multiplicity: ty=2+3+4, and the same for labels, contentType, rids, tids, ltids.
    # '+' separates, so a '+' (and '%') inside a value is always escaped.
    "multiplicity": Vector(
        retrieve(
            fc=FilterCriteria(
                ty=(2, 3, 4),
                lbl=("a b", "c+d", "e&f", "key:value", "x=1#%", "ü", ""),
                cty=("text/plain", "application/json"),
            ),
            rids=("r1", "r2"),
            tids=("t1",),
            ltids=("l1", "l2"),
        ),
        "lbl=a%20b+c%2Bd+e%26f+key:value+x%3D1%23%25+%C3%BC+&ty=2+3+4&cty=text/plain+application/json"
        "&rids=r1+r2&tids=t1&ltids=l1+l2",
        (
            "lbl=a b+c%2Bd+e&f+key:value+x%3D1#%25+ü+",
            "ty=2+3+4",
            "cty=text/plain+application/json",
            "rids=r1+r2",
            "tids=t1",
            "ltids=l1+l2",
        ),
    ),
    # Attribute conditions: name=value, 'c.'/'p.' for child/parent attributes; values
    # come back as text, several values (an unescaped '+') as a list.
    "attribute-conditions": Vector(
        retrieve(
            fc=FilterCriteria(
                atr=(Attribute("cr", "Sam"), Attribute("rn", "a+b"), Attribute("acpi", ["a1", "a2"])),
                catr=(Attribute("lbl", "a"),),
                patr=(Attribute("ty", 3), Attribute("rn", True)),
            )
        ),
        "cr=Sam&rn=a%2Bb&acpi=a1+a2&c.lbl=a&p.ty=3&p.rn=true",
        ("cr=Sam", "rn=a%2Bb", "acpi=a1+a2", "c.lbl=a", "p.ty=3", "p.rn=true"),
        back=retrieve(
            fc=FilterCriteria(
                atr=(Attribute("cr", "Sam"), Attribute("rn", "a+b"), Attribute("acpi", ["a1", "a2"])),
                catr=(Attribute("lbl", "a"),),
                patr=(Attribute("ty", "3"), Attribute("rn", "true")),
            )
        ),
    ),
    # Every parameter of Table 6.2.2.2-1 (and the R4 filter conditions), in the table's order.
    "every-parameter": Vector(
        retrieve(
            rt=ResponseTypeInfo(rtv=ResponseType.NON_BLOCKING_REQUEST_ASYNCH),
            rp=60000,
            rcn=Rcn.CHILD_RESOURCE_REFERENCES,
            da=True,
            fc=EVERY_FILTER,
            drt=DiscoveryResultType.UNSTRUCTURED,
            rids=("ri",),
            tids=("ti",),
            ltids=("lt",),
            tqi=False,
            asi=True,
            auri=False,
            sqi=True,
        ),
        "rt=2&rp=60000&rcn=6&da=true&"
        + EVERY_FILTER_ITEMS.format(eq="%3D", lb="%5B", rb="%5D")
        + "&drt=2&rids=ri&tids=ti&ltids=lt&tqi=false&asi=true&auri=false&sqi=true",
        (
            "rt=2",
            "rp=60000",
            "rcn=6",
            "da=true",
            *EVERY_FILTER_ITEMS.format(eq="%3D", lb="[", rb="]").split("&"),
            *("drt=2", "rids=ri", "tids=ti", "ltids=lt", "tqi=false", "asi=true", "auri=false", "sqi=true"),
        ),
    ),
    # A blocking rt is written too (it is in the primitive); its nu is the binding's to carry.
    "blocking-rt": Vector(retrieve(rt=ResponseTypeInfo()), "rt=3", ("rt=3",)),
    "nothing": Vector(retrieve(), "", ()),
    # SPARQL and other text: percent-encoded in a URL (§6.2.2.2 example 3), raw in an option.
    "text-values": Vector(
        retrieve(
            fc=FilterCriteria(smf=("SELECT ?x WHERE { ?x a <http://e/#C> }",), cra="2026 & more", lim=10),
            rcn=4,
            drt=2,
            rp="P1Y",
            da=False,
            sqi=False,
        ),
        "rp=P1Y&rcn=4&da=false&cra=2026%20%26%20more&lim=10"
        "&smf=SELECT%20%3Fx%20WHERE%20%7B%20%3Fx%20a%20%3Chttp://e/%23C%3E%20%7D&drt=2&sqi=false",
        (
            "rp=P1Y",
            "rcn=4",
            "da=false",
            "cra=2026 & more",
            "lim=10",
            "smf=SELECT ?x WHERE { ?x a <http://e/#C> }",
            "drt=2",
            "sqi=false",
        ),
    ),
}


@pytest.mark.parametrize("vector", VECTORS.values(), ids=VECTORS.keys())
def test_vectors_write_the_http_query_string(vector: Vector) -> None:
    assert http_query(vector.request) == vector.http


@pytest.mark.parametrize("vector", VECTORS.values(), ids=VECTORS.keys())
def test_vectors_write_the_coap_uri_query(vector: Vector) -> None:
    assert coap_query(vector.request) == vector.coap


@pytest.mark.parametrize("vector", VECTORS.values(), ids=VECTORS.keys())
@pytest.mark.parametrize("dialect", DIALECTS)
def test_vectors_read_back(vector: Vector, dialect: QueryDialect) -> None:
    written = vector.http if dialect is HTTP_QUERY else vector.coap
    assert read_back(written, dialect) == (vector.back or vector.request)


def test_example_3_semantic_discovery_as_the_spec_writes_it(ts0009: str) -> None:
    spec_query = re.search(r"Request-Target:\s+/CSE1234/RCSE78\?(smf=\S+)", ts0009)
    assert spec_query is not None
    sparql = (
        "PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> "
        "PREFIX myOnt: <http://www.onem2m.org/ontology/myontology#> "
        "SELECT ?car WHERE { ?car  rdf:type myOnt:car }"
    )
    assert read_back(spec_query.group(1), HTTP_QUERY).fc == FilterCriteria(smf=(sparql,))
    # We leave ':' and '/' as they are (both legal in a query); the text is the same.
    ours = http_query(retrieve(fc=FilterCriteria(smf=(sparql,))))
    assert ours != spec_query.group(1) and read_back(ours, HTTP_QUERY).fc == FilterCriteria(smf=(sparql,))
    assert not set(ours) & set(" <>{}#?+")
    assert coap_query(retrieve(fc=FilterCriteria(smf=(sparql,)))) == (f"smf={sparql}",)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_geometry_type_spellings(dialect: QueryDialect) -> None:
    """The table prints geometryType "gnty", example 4 "gmtty"; TS-0004 (and ACME) say gmty."""
    for name in ("gnty", "gmtty", "gmty"):
        assert read_back(("fu=1", f"{name}=3"), dialect).fc == FilterCriteria(fu=FilterUsage.DISCOVERY, gmty=3)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_repeated_list_names_add_up(dialect: QueryDialect) -> None:
    """Receivers also meet a 0..n name repeated (ACME accepts both forms)."""
    back = read_back(("ty=2", "ty=3+4", "lbl=a", "lbl=b", "rids=r", "rids=s", "atrl=rn", "atrl=lbl"), dialect)
    assert back.fc == FilterCriteria(ty=(2, 3, 4), lbl=("a", "b"))
    assert (back.rids, back.pc) == (("r", "s"), {"m2m:atrl": ["rn", "lbl"]})


def test_query_field_names_are_the_tables(ts0009: str) -> None:
    """Every name of Table 6.2.2.2-1 is read as that parameter, and 0..n ones as lists."""
    rows = re.findall(r"^([A-Za-z][\w ]*?)\t<i>(\w+)</i>\t(0\.\.[1n])", ts0009, re.MULTILINE)
    assert len(rows) == 37
    samples = {"da": "true", "tqi": "1", "asi": "0", "auri": "false", "sqi": "true", "rp": "P1D", "rt": "1"}
    for dialect in (HTTP_QUERY, COAP_URI_QUERY):
        for _, name, multiplicity in rows:
            if name == "atr":  # not used itself: attribute conditions are name=value (§6.2.2.2)
                continue
            assert name in dialect.reserved
            # The table says 0..n for tqi, but Token Request Indicator is one boolean (TS-0004 §8.2.2).
            listed = multiplicity == "0..n" and name != "tqi"
            value = samples.get(name, "1")
            back = read_back(f"{name}={value}+2" if listed else f"{name}={value}", dialect)
            assert back.fc is None or not back.fc.atr, f"{name} was read as an attribute condition"
            if listed:
                found = getattr(back, name, None)
                if found is None:
                    found = getattr(back.fc, name)
                assert len(found) == 2, name


def test_every_filter_condition_has_a_query_name() -> None:
    conditions = {f.name for f in dataclasses.fields(FilterCriteria)} - {"atr", "catr", "patr", "extra"}
    assert conditions <= HTTP_QUERY.reserved
    assert read_back(http_query(retrieve(fc=EVERY_FILTER)), HTTP_QUERY).fc == EVERY_FILTER


# ---------------------------------------------------------------------------
# Where the two transports differ
# ---------------------------------------------------------------------------

URL_KEPT = set(string.ascii_letters + string.digits + "-._~" + "/!$'()*,;:@")


def test_http_escapes_everything_that_is_not_a_query_character() -> None:
    """RFC 3986 query characters stay, minus the oneM2M delimiters & = + # (and '?', '[', ']')."""
    for char in map(chr, range(0x20, 0x7F)):
        written = http_query(retrieve(fc=FilterCriteria(lbl=(char,))))
        assert written == ("lbl=" + (char if char in URL_KEPT else f"%{ord(char):02X}")), char
    assert http_query(retrieve(fc=FilterCriteria(lbl=("ü",)))) == "lbl=%C3%BC"


def test_coap_escapes_only_the_escape_the_separator_and_equals() -> None:
    """An option carries UTF-8 as it is (RFC 7252 §5.10.1); '&' separates nothing inside one."""
    for char in [*map(chr, range(0x20, 0x7F)), "ü", "\u2028", "\x00"]:
        written = coap_query(retrieve(fc=FilterCriteria(lbl=(char,))))
        assert written == ("lbl=" + (f"%{ord(char):02X}" if char in "%+=" else char),), char


def test_tokens_go_in_the_coap_query_only() -> None:
    """TS-0008 has no option for tkns; TS-0009 sends them in Authorization (§6.4.19)."""
    request = retrieve(rids=("r",), tkns=("t1", "t 2"), tids=("i",))
    assert coap_query(request) == ("rids=r", "tkns=t1+t 2", "tids=i")
    assert http_query(request) == "rids=r&tids=i"
    assert read_back(("tkns=t1+t 2",), COAP_URI_QUERY).tkns == ("t1", "t 2")
    # To an HTTP receiver tkns is no table name: an attribute condition like any other.
    assert read_back("tkns=t", HTTP_QUERY).fc == FilterCriteria(atr=(Attribute("tkns", "t"),))


def test_op_is_the_coap_bindings_own() -> None:
    """TS-0008 §6.2.1's non-blocking POST names its operation in the query; the binding reads it."""
    coap = query_to_parameters([("op", "2"), ("rcn", "1")], COAP_URI_QUERY)
    assert (coap.binding, dict(coap.fields)) == ({"op": ("2",)}, {"rcn": 1})
    assert query_to_parameters([("op", "2")], HTTP_QUERY).fields == {"fc": FilterCriteria(atr=(Attribute("op", "2"),))}
    with pytest.raises(OneM2MUsageError, match="cannot be a query field name"):
        coap_query(retrieve(fc=FilterCriteria(atr=(Attribute("op", 1),))))
    assert http_query(retrieve(fc=FilterCriteria(atr=(Attribute("op", 1),)))) == "op=1"


def test_parameters_the_primitive_does_not_name_come_last() -> None:
    """request.extra (e.g. ACME's maxAge "ma"): written as they are; a receiver reads an attribute condition."""
    request = retrieve(rcn=1, pc={"m2m:atrl": ["rn", "lbl"]}, extra={"ma": "1h", "x y": ["a", "b"]})
    assert http_query(request) == "rcn=1&atrl=rn+lbl&ma=1h&x%20y=a+b"
    assert read_back(http_query(request), HTTP_QUERY).fc == FilterCriteria(
        atr=(Attribute("ma", "1h"), Attribute("x y", ["a", "b"]))
    )


# ---------------------------------------------------------------------------
# What is refused
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "complaint"),
    [
        (retrieve(fc=FilterCriteria(atr=(Attribute("ty", "3"),))), "cannot be a query field name"),
        (retrieve(fc=FilterCriteria(atr=(Attribute("gnty", "3"),))), "cannot be a query field name"),
        (retrieve(fc=FilterCriteria(atr=(Attribute("c.x", "3"),))), "cannot be a query field name"),
        (retrieve(fc=FilterCriteria(catr=(Attribute("", "3"),))), "cannot be a query field name"),
        (retrieve(fc=FilterCriteria(extra={"lbl": "a"})), "cannot be a query field name"),
        (retrieve(extra={"atrl": "a"}), "cannot be a query field name"),
        (retrieve(fc=FilterCriteria(atr=("cr",))), "Attribute"),  # type: ignore[arg-type]
        (retrieve(fc=FilterCriteria(atr=(Attribute("loc", {"typ": 1}),))), "cannot be written as text"),
        (retrieve(fc=FilterCriteria(atr=(Attribute("acpi", []),))), "empty list"),
        (retrieve(fc=FilterCriteria(lbl=("\ud800",))), "unpaired surrogate"),
        (retrieve(fc=FilterCriteria(lim=-1)), "non-negative integer"),
        (retrieve(fc=FilterCriteria(ty=(3, True))), "non-negative integer"),
        (retrieve(fc=FilterCriteria(lbl=("a", 1))), "tuple of strings"),  # type: ignore[arg-type]
        (retrieve(da="yes"), "must be a bool"),  # type: ignore[arg-type]
    ],
)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_what_a_query_cannot_carry_is_a_usage_error(
    request_: RequestPrimitive, complaint: str, dialect: QueryDialect
) -> None:
    with pytest.raises(OneM2MUsageError, match=complaint):
        request_query_items(request_, (), dialect)


@pytest.mark.parametrize(
    ("items", "complaint"),
    [
        ([("rcn", "abc")], "non-negative integer"),
        ([("rcn", "-1")], "non-negative integer"),
        ([("lim", "-")], "non-negative integer"),
        ([("lim", "1_000")], "non-negative integer"),
        ([("lim", " 1")], "non-negative integer"),
        ([("lim", "\u0663")], "non-negative integer"),  # ARABIC-INDIC DIGIT THREE
        ([("lim", "9" * (MAX_DIGITS + 1))], "non-negative integer"),
        ([("drt", "1.5")], "non-negative integer"),
        ([("ty", "3+x")], "non-negative integer"),
        ([("ty", "3++4")], "non-negative integer"),
        ([("rt", "")], "non-negative integer"),
        ([("rt", "9")], "not a responseType"),
        ([("da", "yes")], "true, false, 1 or 0"),
        ([("sqi", "2")], "true, false, 1 or 0"),
        ([("fu", "%FF")], "percent-encoding is not UTF-8"),
        ([("lbl", "%ff")], "percent-encoding is not UTF-8"),
        ([("%ff", "1")], "percent-encoding is not UTF-8"),
        ([("rp", "9" * (MAX_DIGITS + 1))], "digit number"),
        ([("", "1")], "has no name"),
        ([("atrl", "rn++lbl")], "empty attribute"),
        ([("atrl", "")], "empty attribute"),
        ([("rcn", "4"), ("rcn", "5")], "rcn appears twice; it may appear once"),
        ([("rt", "1"), ("rt", "1")], "appears twice"),
        ([("gmty", "3"), ("gnty", "3")], "gmty appears twice"),
    ],
)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_bad_query_values_are_protocol_errors(
    items: list[tuple[str, str]], complaint: str, dialect: QueryDialect
) -> None:
    with pytest.raises(OneM2MProtocolError, match=complaint) as caught:
        query_to_parameters(items, dialect)
    assert caught.value.rsc == RSC.BAD_REQUEST
    assert caught.value.where is not None and caught.value.where.startswith(dialect.where)


@pytest.mark.parametrize("name", ["rcn", "rt", "fu", "lim", "drt", "da", "rp", "cra", "tqi"])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_single_valued_parameters_may_not_repeat(name: str, dialect: QueryDialect) -> None:
    value = "true" if name in ("da", "tqi") else "1"
    with pytest.raises(OneM2MProtocolError, match="may appear once"):
        query_to_parameters([(name, value), (name, value)], dialect)


# ---------------------------------------------------------------------------
# Partial retrieve and rt, both ways
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (retrieve("a/b#rr"), ("a/b", ["rr"])),
        (retrieve("//sp/cse/x", pc={"m2m:atrl": ["ri", "lbl"]}), ("//sp/cse/x", ["ri", "lbl"])),
        (retrieve("x#rr", pc={"m2m:atrl": ["ri"]}), ("x", ["rr", "ri"])),
        (retrieve("x", pc={"m2m:atrl": "ri lbl rr"}), ("x", ["ri", "lbl", "rr"])),  # the XML list form
        (retrieve("x"), ("x", [])),
        (RequestPrimitive(op=Operation.UPDATE, to="x", rqi="r", pc={"m2m:cnt": {}}), ("x", [])),
    ],
)
def test_partial_retrieve_names(request_: RequestPrimitive, expected: tuple[str, list[str]]) -> None:
    assert partial_retrieve(request_) == expected


@pytest.mark.parametrize(
    ("request_", "complaint"),
    [
        (RequestPrimitive(op=Operation.UPDATE, to="x#lbl", rqi="r"), "only for a partial RETRIEVE"),
        (RequestPrimitive(op=Operation.DELETE, to="x#lbl", rqi="r"), "only for a partial RETRIEVE"),
        (retrieve("x#"), "only for a partial RETRIEVE"),
        (retrieve(pc={"m2m:cnt": {}}), "carries no content except an attribute list"),
        (retrieve(pc={"m2m:atrl": []}), "carries no content except an attribute list"),
        (retrieve(pc={"m2m:atrl": ["rn", ""]}), "carries no content except an attribute list"),
        (retrieve(pc={"m2m:atrl": ["rn"], "x": 1}), "carries no content except an attribute list"),
    ],
)
def test_partial_retrieve_refuses(request_: RequestPrimitive, complaint: str) -> None:
    with pytest.raises(OneM2MUsageError, match=complaint):
        partial_retrieve(request_)


def test_request_fields_put_atrl_and_rt_back() -> None:
    query = query_to_parameters([("rt", "2"), ("atrl", "rn")])
    fields = request_fields(query, op=R, to="x", pc=None, nu=("http://a",))
    assert (fields["to"], fields["pc"]) == ("x#rn", None)  # one name goes back after '#'
    assert fields["rt"] == ResponseTypeInfo(rtv=ResponseType.NON_BLOCKING_REQUEST_ASYNCH, nu=("http://a",))
    # nu alone (X-M2M-RTU, oneM2M-RTURI) is a blocking rt; neither, no rt at all.
    assert request_fields(query_to_parameters([]), op=R, to="x", pc=None, nu=())["rt"] == ResponseTypeInfo()
    assert "rt" not in request_fields(query_to_parameters([]), op=R, to="x", pc=None, nu=None)
    with pytest.raises(OneM2MProtocolError, match="only for a RETRIEVE") as caught:
        request_fields(query, op=Operation.NOTIFY, to="x", pc=None, nu=None, dialect=COAP_URI_QUERY)
    assert caught.value.where == "Uri-Query atrl"
    with pytest.raises(OneM2MProtocolError, match="only for a RETRIEVE without content"):
        request_fields(query, op=R, to="x", pc={"m2m:cnt": {}}, nu=None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("60000", 60000), ("20260101T000000", "20260101T000000"), ("P1D", "P1D"), ("", ""), ("\u00b2", "\u00b2")],
)
def test_number_or_text(text: str, expected: str | int) -> None:
    assert number_or_text(text, "x") == expected


def test_numbers_are_ascii_digits_of_a_sane_length() -> None:
    assert non_negative_int("9" * MAX_DIGITS, "x") == int("9" * MAX_DIGITS)
    for bad in ("", "-1", "+1", "1_0", "\u00b2", "\u0663", "9" * (MAX_DIGITS + 1)):
        with pytest.raises(OneM2MProtocolError):
            non_negative_int(bad, "x")
    with pytest.raises(OneM2MProtocolError, match="21-digit"):
        number_or_text("9" * (MAX_DIGITS + 1), "x")


# ---------------------------------------------------------------------------
# hypothesis: parameters -> items -> parameters, and the parser on garbage
# ---------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=8)  # no unpaired surrogates
NON_EMPTY = TEXT.filter(bool)
NUMBER = st.integers(0, 2**40)


def condition_names(dialect: QueryDialect, prefixed: bool) -> st.SearchStrategy[str]:
    if prefixed:
        return NON_EMPTY
    return NON_EMPTY.filter(lambda name: name not in dialect.reserved and not name.startswith(("c.", "p.")))


def condition_values() -> st.SearchStrategy[Any]:
    # A query value is text; several values (a list of two or more) come back as a list.
    return TEXT | st.lists(TEXT, min_size=2, max_size=3)


@st.composite
def filters(draw: st.DrawFn, dialect: QueryDialect) -> FilterCriteria | None:
    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.none() | strategy)

    def texts() -> tuple[str, ...]:
        return tuple(draw(st.lists(TEXT, max_size=3)))

    def conditions(prefixed: bool) -> tuple[Attribute, ...]:
        names = condition_names(dialect, prefixed)
        return tuple(draw(st.lists(st.builds(Attribute, names, condition_values()), max_size=2)))

    fc = FilterCriteria(
        crb=maybe(TEXT),
        cra=maybe(TEXT),
        sts=maybe(NUMBER),
        lbl=texts(),
        clbl=texts(),
        ty=tuple(draw(st.lists(st.sampled_from(ResourceType) | NUMBER, max_size=3))),
        pty=tuple(draw(st.lists(NUMBER, max_size=2))),
        cty=texts(),
        atr=conditions(prefixed=False),
        catr=conditions(prefixed=True),
        patr=conditions(prefixed=True),
        fu=maybe(st.sampled_from(FilterUsage) | NUMBER),
        lim=maybe(NUMBER),
        smf=texts(),
        fo=maybe(st.sampled_from(FilterOperation)),
        cfq=maybe(TEXT),
        arp=maybe(TEXT),
        gmty=maybe(NUMBER),
        geom=maybe(TEXT),
    )
    return fc if fc != FilterCriteria() else None


@st.composite
def query_requests(draw: st.DrawFn, dialect: QueryDialect) -> RequestPrimitive:
    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.none() | strategy)

    def texts() -> tuple[str, ...] | None:
        return maybe(st.lists(TEXT, min_size=1, max_size=3).map(tuple))

    to = draw(st.sampled_from(["cse-in/x", "/id-in/x", "//sp/id-in/x"]))
    attributes = draw(st.lists(NON_EMPTY.filter(lambda a: "#" not in a), max_size=3))
    if len(attributes) == 1:
        to = f"{to}#{attributes[0]}"
    return RequestPrimitive(
        op=R,
        to=to,
        rqi="r",
        pc={"m2m:atrl": attributes} if len(attributes) > 1 else None,
        rt=maybe(st.builds(ResponseTypeInfo, rtv=st.sampled_from(ResponseType))),
        rp=maybe(NUMBER | TEXT.filter(lambda t: not (t.isascii() and t.isdigit()))),
        rcn=maybe(st.sampled_from(Rcn) | NUMBER),
        da=maybe(st.booleans()),
        fc=draw(filters(dialect)),
        drt=maybe(st.sampled_from(DiscoveryResultType)),
        rids=texts(),
        tkns=texts() if dialect.tokens else None,
        tids=texts(),
        ltids=texts(),
        tqi=maybe(st.booleans()),
        asi=maybe(st.booleans()),
        auri=maybe(st.booleans()),
        sqi=maybe(st.booleans()),
    )


def through(request: RequestPrimitive, dialect: QueryDialect) -> RequestPrimitive:
    """request -> items, joined and split as its binding does -> request."""
    to, attributes = partial_retrieve(request)
    items = request_query_items(request, attributes, dialect)
    if dialect is HTTP_QUERY:
        written: str | tuple[str, ...] = "&".join(f"{n}={v}" for n, v in items)
        assert isinstance(written, str) and written.isascii() and "#" not in written and " " not in written
    else:
        written = tuple(f"{n}={v}" for n, v in items)
    return read_back(written, dialect, to=to)


@settings(max_examples=400)
@given(query_requests(HTTP_QUERY))
def test_any_parameters_round_trip_through_an_http_query(request: RequestPrimitive) -> None:
    assert through(request, HTTP_QUERY) == request


@settings(max_examples=400)
@given(query_requests(COAP_URI_QUERY))
def test_any_parameters_round_trip_through_coap_uri_query(request: RequestPrimitive) -> None:
    assert through(request, COAP_URI_QUERY) == request


NAMES = st.sampled_from(
    ["rt", "rp", "rcn", "da", "ty", "lbl", "fu", "lim", "atrl", "gnty", "tkns", "op", "c.x", "p.", "zz", "%72cn", ""]
) | st.text(max_size=6)
VALUES = st.sampled_from(
    ["1", "2+3", "true", "%zz", "%ff", "%C2%B2", "", "+", "9" * 30, "\u00b2", "\uff11", "a=b", "-1"]
) | st.text(max_size=10)


@settings(max_examples=1000)
@given(st.lists(st.tuples(NAMES, VALUES), max_size=6), st.sampled_from([HTTP_QUERY, COAP_URI_QUERY]))
def test_any_items_give_parameters_or_a_protocol_error(items: list[tuple[str, str]], dialect: QueryDialect) -> None:
    try:
        query = query_to_parameters(items, dialect)
        fields = request_fields(query, op=R, to="x", pc=None, nu=None, dialect=dialect)
    except OneM2MProtocolError as exc:
        assert exc.rsc == RSC.BAD_REQUEST
        return
    with contextlib.suppress(OneM2MUsageError):  # a value the primitive refuses: the bindings answer 4000
        RequestPrimitive(op=R, rqi="r", **fields)
