"""firewalld's XML files (zones, services, policies, ipsets, icmptypes, direct.xml) as elements
that remember their file and line, so evidence can cite `<service name="ssh"/>` at
`zones/public.xml:7`.

Read with expat, refusing any DTD or entity declaration (firewalld writes none; an entity could
expand without bound). Bad input is a ParseError naming the file and line, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

from checker.errors import Location, ParseError, Problem

_MAX_DEPTH = 16
CODE = "firewalld"


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    location: Location
    children: list[Node] = field(default_factory=list)

    def get(self, key: str, default: str = "") -> str:
        return self.attrs.get(key, default)

    def all(self, tag: str) -> list[Node]:
        return [child for child in self.children if child.tag == tag]

    def first(self, tag: str) -> Node | None:
        found = self.all(tag)
        return found[0] if found else None

    def show(self) -> str:
        """The element as firewall-cmd writes it, children left out: `<port port="80" …/>`."""
        attrs = "".join(f' {key}="{value}"' for key, value in self.attrs.items() if key != "#text")
        return f"<{self.tag}{attrs}/>"


def fail(location: Location, message: str) -> ParseError:
    return ParseError(Problem.at(location, CODE, message))


def read(data: bytes, origin: str) -> Node:
    parser = expat.ParserCreate()
    stack: list[Node] = []
    root: list[Node] = []

    def refuse(*_: object) -> None:
        raise fail(Location(origin, parser.CurrentLineNumber), "DTDs and entities are not allowed")

    def start(tag: str, attributes: dict[str, str]) -> None:
        node = Node(tag, dict(attributes), Location(origin, parser.CurrentLineNumber))
        if stack:
            stack[-1].children.append(node)
        elif root:
            raise fail(node.location, "more than one root element")
        else:
            root.append(node)
        if len(stack) >= _MAX_DEPTH:
            raise fail(node.location, f"elements nested deeper than {_MAX_DEPTH}")
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def characters(text: str) -> None:
        if stack:
            stack[-1].attrs["#text"] = stack[-1].attrs.get("#text", "") + text

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(data, True)
    except (LookupError, UnicodeError, ValueError) as error:
        raise fail(
            Location(origin, parser.CurrentLineNumber or 1), f"cannot decode: {error}"
        ) from None
    except expat.ExpatError as error:
        raise fail(
            Location(origin, error.lineno),
            f"not well-formed XML: {expat.errors.messages[error.code]}",
        ) from None
    if not root:
        raise fail(Location(origin, 1), "no root element")
    return root[0]


def text(node: Node) -> str:
    return node.attrs.get("#text", "").strip()
