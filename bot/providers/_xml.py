"""The one way every provider answer is parsed as XML: xmltodict over expat, with DTDs and entities refused.

`parse_xml(body)` runs `xmltodict.parse` and hands its document back as an `XmlNode` tree:
element names without their namespace, attributes by local name, and each element's text
and children in document order (xmltodict's dicts keep neither the order of repeated
children nor where a child sits in its parent's text, which a MyOwnFreeHost `statusmsg`
holding `<b>` needs: tests/fixtures/providers/extra/mofh/passwd_statusmsg_with_child_element.xml).

What is refused, never expanded or fetched (`XmlRefused`): any document type declaration,
`<!DOCTYPE` with or without an internal subset, so no entity can be declared (billion laughs)
and no external DTD or entity named (XXE); the parser stops at the declaration, before its
subset is read. Entity, notation and external-entity handlers refuse too (xmltodict's own
`disable_entities=True`, its default, also raises on an entity declaration), and a reference
to an undeclared entity is expat's own error. Anything else that is not well-formed XML
(truncated, invalid UTF-8, an unbound prefix) is `XmlError`. Nothing here logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.parsers import expat

import xmltodict


class XmlError(ValueError):
    """The body is not one well-formed XML document."""


class XmlRefused(XmlError):
    """The body declared a DTD or entities; it was refused before anything was expanded."""


# expat never reports U+0000 as text (XML 1.0 forbids the character), so it can mark, inside a
# parent's text as xmltodict collects it, where each child element started.
_MARK = "\x00"
_NS = "}"  # namespace separator: expat reports "uri}local", as ElementTree spells "{uri}local"


def _refuse(*_args: object) -> None:
    raise XmlRefused("the document declared a DTD or entities, which are refused")


class _GuardedParser:
    """An expat parser as xmltodict drives it: DTDs and entities refused, each child's place marked in its parent."""

    def __init__(self, parser: Any) -> None:
        object.__setattr__(self, "_parser", parser)
        object.__setattr__(self, "_characters", None)
        for handler in ("StartDoctypeDeclHandler", "EntityDeclHandler", "UnparsedEntityDeclHandler",
                        "NotationDeclHandler", "ExternalEntityRefHandler"):
            setattr(parser, handler, _refuse)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("StartDoctypeDeclHandler", "EntityDeclHandler", "UnparsedEntityDeclHandler",
                    "NotationDeclHandler", "ExternalEntityRefHandler"):
            value = _refuse  # xmltodict's own refusal raises a plain ValueError; ours says what happened
        elif name == "CharacterDataHandler":
            object.__setattr__(self, "_characters", value)
        elif name == "StartElementHandler":
            value = self._marking(value)
        setattr(self._parser, name, value)

    def _marking(self, start: Any) -> Any:
        def start_element(name: str, attrs: Any) -> None:
            characters = self._characters
            if characters is not None:  # into the parent's text, after the text before this child
                characters(_MARK + name + _MARK)
            start(name, attrs)

        return start_element


class _GuardedExpat:
    """What xmltodict.parse takes as its `expat` module: only ParserCreate is asked for."""

    @staticmethod
    def ParserCreate(encoding: str | None = None, namespace_separator: str | None = None) -> _GuardedParser:
        parser = expat.ParserCreate(encoding, namespace_separator)
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        return _GuardedParser(parser)


class XmlNode:
    """One element: its local name, attributes by local name, and its text and children in document order."""

    __slots__ = ("attrs", "parts", "tag")

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.attrs: dict[str, str] = {}
        self.parts: list[str | XmlNode] = []  # text runs and child elements, as they came

    def __repr__(self) -> str:
        return f"XmlNode({self.tag!r})"

    @property
    def children(self) -> list[XmlNode]:
        return [part for part in self.parts if isinstance(part, XmlNode)]

    @property
    def text(self) -> str:
        """The element's own text (every run between its children), "" when it has none."""
        return "".join(part for part in self.parts if isinstance(part, str))

    def find(self, tag: str) -> XmlNode | None:
        """The first child called `tag`."""
        return next((child for child in self.children if child.tag == tag), None)

    def iter(self) -> Iterator[XmlNode]:
        """This element and every element under it, in document order."""
        stack: list[XmlNode] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def itertext(self, *, skip: tuple[str, ...] = ()) -> Iterator[str]:
        """Every run of text under this element in document order, leaving out elements called one of `skip`."""
        if self.tag in skip:
            return
        stack: list[str | XmlNode] = [self]
        while stack:
            part = stack.pop()
            if isinstance(part, str):
                yield part
            elif part.tag not in skip:
                stack.extend(reversed(part.parts))


def parse_xml(data: bytes) -> XmlNode:
    """The root element of `data`; raises XmlRefused for a DTD or entity, XmlError for anything not well-formed."""
    try:
        document = xmltodict.parse(
            data,
            expat=_GuardedExpat,
            process_namespaces=True,
            namespace_separator=_NS,
            disable_entities=True,
            strip_whitespace=False,  # text as sent, as ElementTree kept it; callers collapse what they show
        )
    except XmlRefused:
        raise
    except (expat.ExpatError, ValueError, UnicodeError) as exc:
        raise XmlError(f"not well-formed XML ({type(exc).__name__})") from None
    if not isinstance(document, dict) or len(document) != 1:
        raise XmlError("no root element")
    ((name, value),) = document.items()
    return _tree(name, value)


def _local(name: str) -> str:
    return name.rsplit(_NS, 1)[-1]


def _tree(name: str, value: Any) -> XmlNode:
    """xmltodict's value for the root (None, text, or a dict of attributes, children and text) as XmlNodes."""
    root = XmlNode(_local(name))
    pending: list[tuple[XmlNode, Any]] = [(root, value)]
    while pending:  # no recursion: a deeply nested answer is as cheap to read as a flat one
        node, value = pending.pop()
        if value is None:
            continue
        if isinstance(value, str):
            node.parts.append(value)
            continue
        if not isinstance(value, dict):
            raise XmlError("unexpected document shape")
        children: dict[str, list[Any]] = {}
        for key, item in value.items():
            if key.startswith("@"):
                if isinstance(item, str):  # "@xmlns" (the namespace declarations) is a dict: not an attribute
                    node.attrs[_local(key[1:])] = item
            elif key != "#text":
                children[key] = item if isinstance(item, list) else [item]
        taken = dict.fromkeys(children, 0)
        for index, piece in enumerate(str(value.get("#text") or "").split(_MARK)):
            if index % 2 == 0:  # text between two marks
                if piece:
                    node.parts.append(piece)
                continue
            if taken.get(piece, 0) >= len(children.get(piece, ())):
                raise XmlError("unexpected document shape")
            child = XmlNode(_local(piece))
            pending.append((child, children[piece][taken[piece]]))
            taken[piece] += 1
            node.parts.append(child)
        if any(taken[key] != len(items) for key, items in children.items()):
            raise XmlError("unexpected document shape")
    return root


__all__ = ["XmlError", "XmlNode", "XmlRefused", "parse_xml"]
