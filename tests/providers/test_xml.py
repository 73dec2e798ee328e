"""The one XML parse every provider client uses (bot/providers/_xml.py): xmltodict, DTDs and entities refused."""

from __future__ import annotations

import ast
import inspect
import time
from importlib import metadata
from pathlib import Path

import pytest
import xmltodict

from bot.providers._xml import XmlError, XmlRefused, parse_xml

PROVIDERS = Path(__file__).resolve().parent.parent.parent / "bot" / "providers"

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE packet [
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
<packet><system><status>&lol9;</status></system></packet>"""


@pytest.mark.parametrize("body", [
    LAUGHS,
    b'<?xml version="1.0"?><!DOCTYPE packet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><packet>&xxe;</packet>',
    b'<!DOCTYPE packet SYSTEM "http://127.0.0.1:9/evil.dtd"><packet/>',
    b'<!DOCTYPE packet [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]><packet/>',
    b'<!DOCTYPE packet [<!ELEMENT packet ANY>]><packet/>',
    b"<!DOCTYPE packet><packet/>",  # even an empty DOCTYPE: nothing a provider sends needs one
    b"<!DOCTYPE html><html><body><status>ok</status></body></html>",
], ids=["billion-laughs", "xxe-file", "external-dtd", "parameter-entity", "element-decl", "bare-doctype", "html"])
def test_every_dtd_is_refused_before_anything_is_expanded(body):
    started = time.monotonic()
    with pytest.raises(XmlRefused):
        parse_xml(body)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("body", [b"", b"   ", b"<packet>", b"<packet><status>ok</status>", b"not xml",
                                  b"<a>&undeclared;</a>", b"<a>\xff\xfe</a>", b"<p:a/>", b"<a></b>",
                                  b"<a/><b/>"])
def test_anything_not_well_formed_is_an_error_not_a_document(body):
    with pytest.raises(XmlError) as raised:
        parse_xml(body)
    assert not isinstance(raised.value, XmlRefused)


def test_namespaces_are_dropped_from_names_and_attributes():
    root = parse_xml(b'<nc:ApiResponse xmlns:nc="http://api.example/x" Status="OK">'
                     b'<nc:Result nc:Success="true" UserId="7"/></nc:ApiResponse>')
    assert (root.tag, root.attrs) == ("ApiResponse", {"Status": "OK"})
    assert [(node.tag, node.attrs) for node in root.iter()][1] == ("Result", {"Success": "true", "UserId": "7"})
    default = parse_xml(b'<ApiResponse xmlns="http://api.example/x"><Errors/></ApiResponse>')
    assert (default.tag, default.attrs, [c.tag for c in default.children]) == ("ApiResponse", {}, ["Errors"])


def test_text_and_children_keep_document_order():
    root = parse_xml(b"<m>This account  is not active, <b>the account must be active</b> to change it (x)."
                     b"<i>!</i> tail<b>again</b></m>")
    assert "".join(root.itertext()) == ("This account  is not active, the account must be active to change it (x)."
                                        "! tailagain")
    assert [c.tag for c in root.children] == ["b", "i", "b"]
    assert [c.text for c in root.children] == ["the account must be active", "!", "again"]
    assert root.text == "This account  is not active,  to change it (x). tail"
    assert root.find("b").text == "the account must be active" and root.find("x") is None
    assert " ".join(" ".join(root.itertext(skip=("b",))).split()) == "This account is not active, to change it (x). ! tail"


def test_text_is_kept_as_sent_and_escapes_are_undone():
    root = parse_xml(b"<packet>\r\n  <errtext> a &amp; b &lt;c&gt; ]]&gt; </errtext>\n<empty/><cdata><![CDATA[x&y]]></cdata>"
                     b"</packet>")
    assert root.find("errtext").text == " a & b <c> ]]> "
    assert root.find("empty").text == "" and root.find("empty").parts == []
    assert root.find("cdata").text == "x&y"


def test_a_deeply_nested_answer_is_read_without_recursion():
    depth = 100_000
    root = parse_xml(b"<a>" * depth + b"x" + b"</a>" * depth)
    assert sum(1 for _ in root.iter()) == depth and "".join(root.itertext()) == "x"


def test_the_xmltodict_in_use_refuses_entities_by_default():
    """xmltodict >= 1.0 (pyproject.toml): `disable_entities` defaults to True and raises on an entity declaration.

    parse_xml refuses every DOCTYPE on its own as well; this pins what the library brings."""
    assert int(metadata.version("xmltodict").split(".")[0]) >= 1
    assert inspect.signature(xmltodict.parse).parameters["disable_entities"].default is True
    with pytest.raises(ValueError):
        xmltodict.parse(b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>')


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_provider_xml_is_parsed_in_one_place_only():
    """xmltodict only in bot/providers/_xml.py, no defusedxml anywhere, and no other XML parser in a provider."""
    parsers = {"fromstring", "XML", "XMLParser", "iterparse", "XMLPullParser", "parseString", "ParserCreate"}
    for path in sorted(PROVIDERS.rglob("*.py")):
        imported = _imports(path)
        assert not any(name.startswith("defusedxml") for name in imported), path
        if path.name != "_xml.py":
            assert "xmltodict" not in imported and "xml.parsers.expat" not in imported, path
            called = {node.attr for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Attribute)}
            assert not called & parsers, (path, called & parsers)
