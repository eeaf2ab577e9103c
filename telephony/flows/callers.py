"""Which caller rule applies to a call or a text: pure functions over a release's rules.

The most specific rule wins: a rule of the number called before a rule of every number;
within each, an exact number before a prefix (the longest prefix first) before
"anonymous". Twilio writes a withheld number as "anonymous", "restricted", "unknown"
(older accounts "+266696687", a number that dials nowhere), or leaves From empty.
"""

from telephony.models import CallerRule
from telephony.models.callers import ANONYMOUS

WITHHELD = frozenset(
    {"", "anonymous", "restricted", "unknown", "unavailable", "private", "+266696687", "266696687"}
)


def matches(pattern: str, caller: str) -> bool:
    if pattern == ANONYMOUS:
        return caller.strip().lower() in WITHHELD
    if pattern.endswith("*"):
        return caller.startswith(pattern[:-1])
    return caller == pattern


def _specificity(rule: CallerRule) -> tuple:
    if rule.pattern == ANONYMOUS:
        return (2, 0)
    if rule.pattern.endswith("*"):
        return (1, -len(rule.pattern))
    return (0, 0)


def ordered(rules) -> list[CallerRule]:
    """`rules` of one number (or of every number) in the order they are tried."""
    return sorted(rules, key=_specificity)


def rule_for(
    rules_by_number: dict[str, list[CallerRule]], *, to: str, caller: str, sms: bool = False
) -> CallerRule | None:
    """The rule for `caller` calling (or texting, `sms`) our number `to`, or None.

    `rules_by_number` maps our numbers (E.164; "" for every number) to their rules, each
    list already `ordered()`. Texts meet block rules only, and only those for texts."""
    for rules in (rules_by_number.get(to, ()), rules_by_number.get("", ())):
        for rule in rules:
            if sms and (rule.kind != CallerRule.Kind.BLOCK or not rule.applies_to_sms):
                continue
            if matches(rule.pattern, caller):
                return rule
    return None
