"""Control ids in SARIF: one taxonomy per framework, and each rule's relationships and tags.

SARIF 2.1.0 (OASIS): a run's `taxonomies` (section 3.14.8) are toolComponents whose `taxa` are
reportingDescriptors (3.19.3); a rule points at the taxa it relates to with `relationships`
(3.49.15), each a reportingDescriptorRelationship whose `target` is a
reportingDescriptorReference naming the taxon by `id` and `index` and its taxonomy by a
toolComponentReference (`name`, `index`). GitHub code scanning shows a rule's
`properties.tags` and rejects an upload whose rule has more than 20 tags, showing only the first
10 ("SARIF results exceed limits", docs.github.com): a rule's controls go into its tags after
fwcheck's own three, cut at `MAX_TAGS`, and all of them stay in its relationships.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from checker.policies.controls import parse
from checker.policies.model import Requirement

# GitHub shows the first 10 tags of a rule (and rejects more than 20).
MAX_TAGS = 10
_NAMES = {
    "cis": "CIS Benchmarks",
    "disa-stig": "DISA Security Technical Implementation Guides",
    "nist-800-53": "NIST SP 800-53",
    "pci-dss": "PCI DSS",
    "custom": "Site-defined controls",
}


def _split(control: str) -> tuple[str, str]:
    try:
        parsed = parse(control)
    except ValueError:
        # A report merged from another version may hold one this version does not know.
        framework, _, ident = control.partition(":")
        return framework or "custom", ident or control
    return parsed.framework, parsed.id


def build(
    requirements: Iterable[Requirement],
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """(run.taxonomies, rule key -> that rule's relationships)."""
    requirements = list(requirements)
    taxa: dict[str, dict[str, int]] = {}
    for req in requirements:
        for control in req.controls:
            framework, ident = _split(control)
            taxa.setdefault(framework, {}).setdefault(ident, 0)
    frameworks = sorted(taxa)
    for framework in frameworks:
        for index, ident in enumerate(sorted(taxa[framework])):
            taxa[framework][ident] = index
    taxonomies = []
    for framework in frameworks:
        family = "cis" if framework.startswith("cis") else framework
        described = _NAMES.get(family, framework)
        if framework.startswith("cis-"):
            described += f" ({framework[4:]})"
        taxonomies.append(
            {
                "name": framework,
                "shortDescription": {"text": described},
                "isComprehensive": False,
                "taxa": [{"id": ident} for ident in sorted(taxa[framework])],
            }
        )
    position = {framework: index for index, framework in enumerate(frameworks)}
    relationships: dict[str, list[dict[str, Any]]] = {}
    for req in requirements:
        links = []
        for control in req.controls:
            framework, ident = _split(control)
            links.append(
                {
                    "target": {
                        "id": ident,
                        "index": taxa[framework][ident],
                        "toolComponent": {"name": framework, "index": position[framework]},
                    },
                    "kinds": ["relevant"],
                }
            )
        if links:
            relationships[req.key] = links
    return taxonomies, relationships


def tags(own: list[str], controls: Iterable[str]) -> list[str]:
    """fwcheck's own tags, then the controls, at most MAX_TAGS and each once."""
    merged = list(dict.fromkeys([*own, *controls]))
    return merged[:MAX_TAGS]
