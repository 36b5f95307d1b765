"""The rules in force on one host when its exports (GPO and local stores) are merged.

A rule's ID is its registry value name (MS-GPFAS 2.2.2.19: the FirewallRules value name is the
rule ID; PowerShell calls it `-Name`). Only one rule with a given ID exists once the stores are
merged, and the Group Policy copy wins: "only one rule with a given name may exist in a policy
store at a time. During group policy processing and policy merge, rules that have the same name
but come from multiple stores being merged, will overwrite one another so that only one exists
[…] an administrator can copy these rules to a GPO, and the rules will override the local
versions on a local computer" (New-NetFirewallRule, `-Name`, Microsoft Learn, NetSecurity
module). So a local rule whose ID a GPO rule also has is not applied, whatever either says
(a disabled GPO copy of a built-in rule turns the enabled local copy off too).

IDs are compared without case, as registry value names are. Exports without real IDs (netsh
text, GPO reports: `WindowsRuleset.has_rule_ids` False) never override. Two copies of one ID
in the same store (two exports of the same store) are both kept, as before: neither is known to
replace the other.
"""

from __future__ import annotations

from collections.abc import Sequence

from checker.model.windows import ShadowedRule, WindowsRule, WindowsRuleset


def _where(rule: WindowsRule) -> str:
    origin = rule.origin
    return f"{origin.file}:{origin.line}" if origin.line else origin.file


def effective_rules(
    rulesets: Sequence[WindowsRuleset],
) -> tuple[list[WindowsRule], list[ShadowedRule]]:
    """(rules Windows applies, rules replaced by another copy of the same ID)."""
    gpo_by_id: dict[str, WindowsRule] = {}
    for ruleset in rulesets:
        if not ruleset.has_rule_ids:
            continue
        for rule in ruleset.rules:
            if rule.store == "gpo":
                gpo_by_id.setdefault(rule.id.casefold(), rule)
    rules: list[WindowsRule] = []
    shadowed: list[ShadowedRule] = []
    for ruleset in rulesets:
        shadowed.extend(ruleset.shadowed)
        for rule in ruleset.rules:
            winner = gpo_by_id.get(rule.id.casefold()) if ruleset.has_rule_ids else None
            if rule.store == "local" and winner is not None:
                reason = (
                    f"the Group Policy rule with the same ID at {_where(winner)} overrides it "
                    "(the GPO copy wins when the stores merge)"
                )
                shadowed.append(ShadowedRule(rule, winner, reason))
                continue
            rules.append(rule)
    return rules, shadowed
