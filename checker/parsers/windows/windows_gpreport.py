"""Group Policy reports in XML (GPMC "Save Report…", `Get-GPOReport -ReportType Xml`): the
Windows Defender Firewall part of one GPO.

Layout (the report's own namespaces; element names as GPMC writes them):
- root `GPO` in http://www.microsoft.com/GroupPolicy/Settings, the computer half under
  `Computer/ExtensionData/Extension`; the firewall extension has `xsi:type` ending in
  `WindowsFirewallSettings` (namespace …/Settings/WindowsFirewall).
- `DomainProfile`, `PrivateProfile`, `PublicProfile`: one element per setting, its `Value`
  child holding `true`/`false` or a number (EnableFirewall, DefaultInboundAction — true means
  Block, as 1 does in the registry —, DefaultOutboundAction, AllowLocalPolicyMerge, …).
- `InboundFirewallRules` / `OutboundFirewallRules`: one element per rule whose children are the
  fields of the rule string (MS-GPFAS 2.2.2.19) by their registry names — Version, Action, Name,
  Dir, App, Svc, Profile, LPort, RPort, Protocol, LA4, RA4, LA6, RA6, ICMP4, Active, Desc, … —
  a field given several times (Profile, RA4, LPort) repeated, as in the rule string.

Each rule is turned back into its rule string and read by windows_rule_string, and the profile
settings into registry values for windows_registry, so the report means exactly what the GPO's
Registry.pol means. The store is "gpo". The report does not carry the rule IDs (the registry
value names): a rule's ID is its Name and the report line it starts on. Every rule and setting
points at its line in the report. Other parts of the report (connection security rules,
administrative-template settings, which it shows by title only) are counted in a warning.

The XML is read with expat, refusing any DTD or entity declaration: a report never has one, and
entity expansion is how hostile XML blows up a parser.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NoReturn
from xml.parsers import expat

from checker.errors import Location, ParseError, Problem
from checker.parsers.options import NO_OPTIONS, ParseOptions, ParserOption

# Imported where used: every run imports this module (the format registry reads its NAME,
# OPTIONS and sniff), only a Windows export needs the model (bench/pre_commit.py).
if TYPE_CHECKING:
    from checker.model.windows import WindowsRuleset
    from checker.parsers.windows.windows_registry import RegistryValue

NAME = "windows-gpreport"
OPTIONS: tuple[ParserOption, ...] = ()  # reads no option
PATTERNS = ("gpreport.xml", "*gpreport*.xml")

_SETTINGS = "http://www.microsoft.com/GroupPolicy/Settings"
_XSI_TYPE = "http://www.w3.org/2001/XMLSchema-instance type"
_POLICY_KEY = "Software\\Policies\\Microsoft\\WindowsFirewall"
_PROFILES = ("DomainProfile", "PrivateProfile", "PublicProfile")
_RULE_LISTS = {"InboundFirewallRules": "In", "OutboundFirewallRules": "Out"}
# The root element with the Settings namespace as its default, near the top of the document.
_ROOT = re.compile(r"<GPO\b[^>]*xmlns=\"http://www\.microsoft\.com/GroupPolicy/Settings\"")
_MAX_DEPTH = 64
# Profile settings the engine reads: a value that is not a boolean would silently mean "unset".
_SWITCHES = frozenset(
    {
        "EnableFirewall",
        "DefaultInboundAction",
        "DefaultOutboundAction",
        "DoNotAllowExceptions",
        "AllowLocalPolicyMerge",
    }
)


@dataclass(slots=True)
class _Element:
    namespace: str
    name: str
    attributes: dict[str, str]
    line: int
    text: list[str] = field(default_factory=list)
    children: list[_Element] = field(default_factory=list)

    def value(self) -> str:
        return "".join(self.text).strip()

    def child(self, name: str) -> _Element | None:
        return next((c for c in self.children if c.name == name), None)


def _text(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head[: len(head) - len(head) % 2].decode("utf-16", errors="replace")
    return head.decode("utf-8", errors="replace")


def sniff(head: bytes) -> bool:
    return _ROOT.search(_text(head[:8192])) is not None


def _fail(origin: str, line: int, message: str) -> ParseError:
    return ParseError(Problem(origin, line, 0, "windows-gpreport", message))


def _read_tree(data: bytes, origin: str) -> _Element:
    parser = expat.ParserCreate(namespace_separator=" ")
    stack: list[_Element] = []
    root: list[_Element] = []

    def refuse(*_: object) -> NoReturn:
        raise _fail(
            origin, parser.CurrentLineNumber, "DTDs and entities are not allowed in a report"
        )

    def start(tag: str, attributes: dict[str, str]) -> None:
        namespace, _, name = tag.rpartition(" ")
        element = _Element(namespace, name, attributes, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(element)
        elif root:
            raise _fail(origin, element.line, "more than one root element")
        else:
            root.append(element)
        if len(stack) >= _MAX_DEPTH:
            raise _fail(origin, element.line, f"elements nested deeper than {_MAX_DEPTH}")
        stack.append(element)

    def end(_tag: str) -> None:
        stack.pop()

    def characters(text: str) -> None:
        if stack:
            stack[-1].text.append(text)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(data, True)
    except (LookupError, UnicodeError, ValueError) as error:
        # The declaration names an encoding Python has no codec for or pyexpat cannot use
        # (multi-byte ones), or the bytes do not decode in it.
        raise _fail(
            origin, parser.CurrentLineNumber or 1, f"cannot decode the XML: {error}"
        ) from None
    except expat.ExpatError as error:
        raise _fail(
            origin, error.lineno, f"not well-formed XML: {expat.errors.messages[error.code]}"
        ) from None
    if not root:
        raise _fail(origin, 1, "no root element")
    return root[0]


def parse(data: bytes, origin: str, options: ParseOptions = NO_OPTIONS) -> WindowsRuleset:
    from checker.parsers.windows.windows_registry import ruleset_from_values

    root = _read_tree(data, origin)
    if (root.namespace, root.name) != (_SETTINGS, "GPO"):
        raise _fail(
            origin,
            root.line,
            f"root element is {root.name!r}, not a Group Policy report's GPO ({_SETTINGS})",
        )
    computer = root.child("Computer")
    extensions = [
        extension
        for data_element in (computer.children if computer else [])
        if data_element.name == "ExtensionData"
        for extension in data_element.children
        if extension.name == "Extension"
        and extension.attributes.get(_XSI_TYPE, "").rpartition(":")[2] == "WindowsFirewallSettings"
    ]
    warnings: list[Problem] = []
    if not extensions:
        warnings.append(
            Problem(
                origin,
                root.line,
                0,
                "windows-gpreport",
                "the report has no Windows Firewall settings (no WindowsFirewallSettings extension)",
            )
        )
    values: list[RegistryValue] = []
    ignored = 0
    for extension in extensions:
        for part in extension.children:
            if part.name in _PROFILES:
                values.extend(_profile(part, origin))
            elif part.name in _RULE_LISTS:
                values.append(_rule(part, _RULE_LISTS[part.name], origin))
            else:
                ignored += 1
    templates = _firewall_templates(computer)
    if templates:
        shown = ", ".join(repr(name) for name in templates[:3])
        more = f" and {len(templates) - 3} more" if len(templates) > 3 else ""
        warnings.append(
            Problem(
                origin,
                root.line,
                0,
                "windows-gpreport-templates",
                f"{len(templates)} administrative-template setting(s) for the firewall ({shown}{more})"
                " are shown by title only and not interpreted; the GPO's Registry.pol holds"
                " their values",
            )
        )
    if ignored:
        warnings.append(
            Problem(
                origin,
                extensions[0].line,
                0,
                "windows-ignored",
                f"{ignored} part(s) of the firewall extension other than the profiles and rules"
                " were not read (global settings, connection security rules)",
            )
        )
    # Its rule IDs are made up (Name @ line): they never override a local rule's ID.
    return replace(ruleset_from_values(values, origin, NAME, warnings), has_rule_ids=False)


def _firewall_templates(computer: _Element | None) -> list[str]:
    """Titles of the Administrative Templates policies under a firewall category."""
    names = []
    for data_element in computer.children if computer else []:
        for extension in data_element.children:
            if extension.attributes.get(_XSI_TYPE, "").rpartition(":")[2] != "RegistrySettings":
                continue
            for policy in extension.children:
                category = policy.child("Category")
                title = policy.child("Name")
                if category and title and "Firewall" in category.value():
                    names.append(title.value())
    return names


def _profile(element: _Element, origin: str) -> list[RegistryValue]:
    from checker.parsers.windows.windows_registry import RegistryValue

    key = f"{_POLICY_KEY}\\{element.name}"
    values = [RegistryValue(key, "", None, Location(origin, element.line))]
    for setting in element.children:
        holder = setting.child("Value")
        text = (holder or setting).value()
        data: int | str = text
        if text.lower() in ("true", "false"):
            data = int(text.lower() == "true")
        elif text.isascii() and text.isdecimal() and len(text) <= 10:
            data = int(text)  # a DWORD; other digits (superscripts, other scripts) stay text
        elif setting.name in _SWITCHES:
            raise _fail(origin, setting.line, f"{setting.name} is {text[:40]!r}, not true or false")
        values.append(RegistryValue(key, setting.name, data, Location(origin, setting.line)))
    return values


def _rule(element: _Element, direction: str, origin: str) -> RegistryValue:
    from checker.parsers.windows.windows_registry import RegistryValue

    version = "2.30"
    fields: list[str] = []
    name = ""
    for item in element.children:
        text = item.value()
        if item.children:
            raise _fail(
                origin, item.children[0].line, f"rule field {item.name} holds elements, not a value"
            )
        if "|" in text:
            raise _fail(
                origin, item.line, f"rule field {item.name} holds '|', which no rule string can"
            )
        if item.name == "Version":
            version = text
        elif item.name == "Active":
            fields.append(f"Active={'TRUE' if text.lower() == 'true' else 'FALSE'}")
        else:
            fields.append(f"{item.name}={text}")
            if item.name == "Name":
                name = text
        if item.name == "Dir" and text.lower() != direction.lower():
            raise _fail(
                origin,
                item.line,
                f"rule in {element.name} says Dir={text}, not {direction}",
            )
    rule_id = f"{name or '(unnamed rule)'} @ line {element.line}"
    text = f"v{version}|" + "".join(f"{f}|" for f in fields)
    return RegistryValue(
        f"{_POLICY_KEY}\\FirewallRules", rule_id, text, Location(origin, element.line)
    )
