"""What differs between two releases, in sentences staff read.

`describe(old, new)` takes two release fixtures (the JSON `flows.fixtures.to_fixture`
writes; `old=None` when nothing is published yet) and returns one sentence per change:

    Flow "Sales": step 2 (Dial) timeout 20 -> 30
    Flow "Main menu": option 3 added -> "Text our address"
    Flow "Old promo" removed
    Number +15005550006 now answers with "Sales" (was "Main menu")
    Schedule "Office hours": Monday 09:00-17:00 -> 09:00-18:00

Flows come first, by name, then numbers, then SMS rules, then caller rules, then
schedules (by name: their fields, weekly hours by weekday, closed dates, special days by
date). Flows are named by their name,
not their slug; labels are the model fields' verbose names; long text is quoted and cut
to about 60 characters (around the first difference, when both sides would look alike).

Steps are matched by what they do, not only by position, so inserting a step at the top
reads "step 1 (Say) added", not as every later step changed: the two step lists are
aligned with difflib; steps left unmatched are paired where their verbs agree (a changed
field) or in order (a verb change, "step 2 Say -> Play"); a step removed in one place and
added unchanged in another "moved". Options are matched by their keys (or, without keys,
their words), so a new phrase on option 1 is a change of option 1.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from difflib import SequenceMatcher

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist

from telephony.models import (
    CallerRule,
    CallFlow,
    ClosedDate,
    MenuOption,
    OpenRange,
    PhoneNumber,
    Schedule,
    SmsRule,
    SpecialDay,
    Step,
)
from telephony.models.schedules import WEEKDAYS

SHORTEN = 60  # quoted text longer than this is cut
ELLIPSIS = "…"

_FLOW = CallFlow._meta.label_lower
_STEP = Step._meta.label_lower
_OPTION = MenuOption._meta.label_lower
_NUMBER = PhoneNumber._meta.label_lower
_RULE = SmsRule._meta.label_lower
_CALLER = CallerRule._meta.label_lower
_SCHEDULE = Schedule._meta.label_lower
_RANGE = OpenRange._meta.label_lower
_CLOSED = ClosedDate._meta.label_lower
_SPECIAL = SpecialDay._meta.label_lower
_KNOWN = {_FLOW, _STEP, _OPTION, _NUMBER, _RULE, _CALLER, _SCHEDULE, _RANGE, _CLOSED, _SPECIAL}


def describe(old: str | None, new: str) -> list[str]:
    """The changes from release fixture `old` (None: nothing published) to `new`."""
    before = _Release(json.loads(old) if old else [])
    after = _Release(json.loads(new))
    names = {**before.flow_names, **after.flow_names}  # a removed flow keeps its name
    describer = _Describer(names)
    return (
        describer.flows(before, after)
        + describer.numbers(before, after)
        + describer.sms_rules(before, after)
        + describer.caller_rules(before, after)
        + describer.schedules(before, after)
        + _others(before, after)
    )


def describe_draft() -> list[str]:
    """What publishing the draft now would change for callers and texters."""
    from telephony.flows.fixtures import draft_fixture
    from telephony.releases.publishing import live_release

    live = live_release()
    return describe(live.fixture if live else None, draft_fixture())


# --- reading a fixture ------------------------------------------------------------------


class _Release:
    """A fixture's objects grouped by what they belong to."""

    def __init__(self, objects: list[dict]):
        self.flows: dict[str, dict] = {}
        self.steps: dict[str, list[dict]] = defaultdict(list)
        self.options: dict[str, dict[tuple, dict]] = defaultdict(dict)
        self.numbers: dict[str, dict] = {}
        self.rules: dict[tuple[str, str], dict] = {}
        self.callers: dict[tuple[str, str], dict] = {}
        self.schedules: dict[str, dict] = {}
        self.ranges: dict[str, list[dict]] = defaultdict(list)
        self.closures: dict[str, dict[str, dict]] = defaultdict(dict)
        self.specials: dict[str, list[dict]] = defaultdict(list)
        self.others: dict[str, list[str]] = defaultdict(list)
        for obj in objects:
            model, fields = obj.get("model"), obj.get("fields", {})
            if model == _FLOW:
                self.flows[fields["slug"]] = fields
            elif model == _STEP:
                self.steps[_key(fields["flow"])].append(fields)
            elif model == _OPTION:
                self.options[_key(fields["flow"])][_option_key(fields)] = fields
            elif model == _NUMBER:
                self.numbers[str(fields["number"])] = fields
            elif model == _RULE:
                self.rules[(_key(fields["phone_number"]), fields.get("keyword", ""))] = fields
            elif model == _CALLER:
                number = fields.get("phone_number")
                self.callers[(_key(number) if number else "", fields["pattern"])] = fields
            elif model == _SCHEDULE:
                self.schedules[fields["name"]] = fields
            elif model == _RANGE:
                self.ranges[_key(fields["schedule"])].append(fields)
            elif model == _CLOSED:
                self.closures[_key(fields["schedule"])][fields["starts"]] = fields
            elif model == _SPECIAL:
                self.specials[_key(fields["schedule"])].append(fields)
            else:
                self.others[model].append(json.dumps(obj, sort_keys=True))
        for steps in self.steps.values():
            steps.sort(key=lambda fields: fields.get("position", 0))

    @property
    def flow_names(self) -> dict[str, str]:
        return {slug: fields.get("name") or slug for slug, fields in self.flows.items()}


def _key(value) -> str:
    """A natural foreign key (["slug"], ["+1..."]) as one string; None stays None."""
    if isinstance(value, list | tuple):
        return str(value[0]) if len(value) == 1 else " ".join(str(part) for part in value)
    return value if value is None else str(value)


def _option_key(fields: dict) -> tuple:
    # Keys are unique within a flow when given; an option without keys is its words.
    digits = fields.get("digits", "")
    return ("digits", digits) if digits else ("phrase", fields.get("phrase", ""))


# --- words ------------------------------------------------------------------------------


def _squash(text: str) -> str:
    return " ".join(str(text).split())


def quote(text: str, *, limit: int = SHORTEN) -> str:
    """ "text", cut (at a word, where one ends near) to about `limit` characters."""
    return f'"{_cut(_squash(text), 0, limit)}"'


def _quote_pair(old: str, new: str) -> tuple[str, str]:
    """Both texts quoted; when cutting would make them look alike, cut both around the
    first difference instead."""
    old, new = _squash(old), _squash(new)
    if quote(old) != quote(new):
        return quote(old), quote(new)
    same = 0
    while same < min(len(old), len(new)) and old[same] == new[same]:
        same += 1
    # Start a little before the difference, but early enough to fill the window, and at
    # a word (the texts are the same up to the difference, so both start alike).
    start = max(0, min(same - SHORTEN // 3, max(len(old), len(new)) - SHORTEN + 2))
    if start and old[start - 1] != " ":
        space = old.find(" ", start, start + _WORD)
        start = space + 1 if space != -1 else start
    return f'"{_cut(old, start, SHORTEN)}"', f'"{_cut(new, start, SHORTEN)}"'


_WORD = 15  # a cut moves at most this far to fall between words


def _cut(text: str, start: int, limit: int) -> str:
    """text[start:] in at most about `limit` characters, with … where it was cut."""
    head = ELLIPSIS if start else ""
    text = text[start:]
    room = limit - len(head)
    if len(text) <= room:
        return head + text
    part = text[: room - 1]
    if text[room - 1] != " " and " " in part[-_WORD:]:
        part = part[: part.rindex(" ")]
    return head + part.rstrip(" ,;:") + ELLIPSIS


def _plural(count: int, word: str) -> str:
    if count == 0:
        return f"no {word}s"
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _verb(value: str) -> str:
    """A verb's name as staff see it, without the admin's explanation: "Gather"."""
    label = dict(Step.Verb.choices).get(value, str(value).title())
    return re.sub(r"\s*\(.*\)$", "", label)


class _Describer:
    def __init__(self, flow_names: dict[str, str]):
        self.flow_names = flow_names

    def flow(self, slug) -> str:
        """A flow as a target: its name, quoted."""
        if slug is None:
            return "nowhere"
        return quote(self.flow_names.get(slug, slug))

    # --- values ---

    def label(self, model, name: str) -> str:
        try:
            return str(model._meta.get_field(name).verbose_name)
        except FieldDoesNotExist:
            return name.replace("_", " ")

    def default(self, model, name: str):
        try:
            model_field = model._meta.get_field(name)
        except FieldDoesNotExist:
            return None
        if model_field.is_relation:
            return None
        value = model_field.get_default()
        return value if isinstance(value, bool | int | str | type(None)) else str(value)

    def value(self, model, name: str, value) -> str:
        """A field's value in words: choices by label, flows by name, yes/no, (blank)."""
        if value is None or value == "" or value == []:
            return "(blank)"
        try:
            model_field = model._meta.get_field(name)
        except FieldDoesNotExist:
            model_field = None
        if model_field is not None and model_field.is_relation:
            if model_field.related_model is CallFlow:
                return self.flow(_key(value))
            return quote(_key(value))
        if isinstance(value, bool):
            return "yes" if value else "no"
        if model_field is not None and model_field.choices:
            return str(dict(model_field.flatchoices).get(value, value))
        if isinstance(value, int | float):
            return str(value)
        if name in ("caller_id", "number", "dial_target"):
            return str(value)
        return quote(value)

    def field_changes(self, model, old: dict, new: dict, *, skip=(), labels=None) -> list[str]:
        """ "label old -> new" for each field that differs, in the model's field order."""
        names = [f.name for f in model._meta.concrete_fields if f.name in old or f.name in new]
        names += sorted((set(old) | set(new)) - set(names))
        out = []
        for name in names:
            if name in skip:
                continue
            before = old.get(name, self.default(model, name))
            after = new.get(name, self.default(model, name))
            if before == after:
                continue
            if self.is_text(model, name) and before and after:
                shown_before, shown_after = _quote_pair(before, after)
            else:
                shown_before = self.value(model, name, before)
                shown_after = self.value(model, name, after)
            label = (labels or {}).get(name) or self.label(model, name)
            out.append(f"{label} {shown_before} -> {shown_after}")
        return out

    def is_text(self, model, name: str) -> bool:
        """Free text staff type (quoted, cut around a difference)."""
        try:
            model_field = model._meta.get_field(name)
        except FieldDoesNotExist:
            return False
        return (
            not model_field.is_relation
            and not model_field.choices
            and name not in _PLAIN
            and model_field.get_internal_type() in ("CharField", "TextField")
        )

    # --- flows ---

    def flows(self, before: _Release, after: _Release) -> list[str]:
        slugs = set(before.flows) | set(after.flows)
        order = sorted(slugs, key=lambda slug: (self.flow_names.get(slug, slug).lower(), slug))
        out = []
        for slug in order:
            old, new = before.flows.get(slug), after.flows.get(slug)
            if new is None:
                out.append(f"Flow {self.flow(slug)} removed")
                continue
            if old is None:
                counts = [_plural(len(after.steps[slug]), "step")]
                if after.options[slug]:
                    counts.append(_plural(len(after.options[slug]), "option"))
                out.append(f"Flow {self.flow(slug)} added ({', '.join(counts)})")
                continue
            prefix = f"Flow {self.flow(slug)}"
            if old.get("name") != new.get("name"):
                out.append(f"Flow {quote(old.get('name') or slug)} renamed {self.flow(slug)}")
            if old.get("is_active", True) != new.get("is_active", True):
                active = new.get("is_active", True)
                out.append(
                    f"{prefix}: now active"
                    if active
                    else f'{prefix}: now inactive (callers hear "not available")'
                )
            for change in self.field_changes(CallFlow, old, new, skip=("name", "is_active")):
                out.append(f"{prefix}: {change}")
            for change in self.steps(before.steps[slug], after.steps[slug]):
                out.append(f"{prefix}: {change}")
            for change in self.options(before.options[slug], after.options[slug]):
                out.append(f"{prefix}: {change}")
        return out

    # --- steps ---

    def step_summary(self, step: dict) -> str:
        """What a step does, in a few words (after "added: ")."""
        verb = step.get("verb")
        if verb in (Step.Verb.SAY, Step.Verb.GATHER, Step.Verb.SMS):
            return quote(step["text"]) if step.get("text", "").strip() else ""
        if verb == Step.Verb.PLAY:
            return quote(step["url"]) if step.get("url") else ""
        if verb == Step.Verb.PAUSE:
            return _plural(step.get("length") or 1, "second")
        if verb == Step.Verb.DIAL:
            target = step.get("dial_target", "")
            return (
                f"{target}, then {self.flow(_key(step['next_flow']))}"
                if step.get("next_flow")
                else target
            )
        if verb == Step.Verb.ENQUEUE:
            return f"queue {quote(step['dial_target'])}" if step.get("dial_target") else ""
        if verb == Step.Verb.RECORD:
            box = _key(step.get("box"))
            return f"box {quote(box)}" if box else "no voicemail box"
        if verb == Step.Verb.REDIRECT:
            if step.get("next_flow"):
                return f"to {self.flow(_key(step['next_flow']))}"
            return f"to {quote(step['url'])}" if step.get("url") else "to nowhere"
        if verb == Step.Verb.REJECT:
            return self.value(Step, "reason", step.get("reason")).lower()
        if verb == Step.Verb.HOURS:
            schedule = _key(step.get("schedule"))
            branches = [
                f"{when} -> {self.flow(_key(step[name])) if step.get(name) else 'the steps after it'}"
                for when, name in (("open", "open_flow"), ("closed", "next_flow"))
            ]
            head = f"schedule {quote(schedule)}" if schedule else "no schedule"
            return f"{head}, {', '.join(branches)}"
        return ""

    def step_sentence(self, step: dict, what: str) -> str:
        summary = self.step_summary(step)
        head = f"step {step.get('position')} ({_verb(step.get('verb'))}) {what}"
        return f"{head}: {summary}" if summary else head

    def steps(self, old: list[dict], new: list[dict]) -> list[str]:
        pairs = _align(old, new)
        removed = {id(a): a for a, b in pairs if b is None}
        moved: dict[int, dict] = {}  # id(added step) -> the removed step it is
        for a, b in pairs:
            if a is None:
                match = next((r for r in removed.values() if _content(r) == _content(b)), None)
                if match is not None:
                    moved[id(b)] = match
                    del removed[id(match)]
        moved_from = {id(step) for step in moved.values()}
        out = []
        for a, b in pairs:
            if b is None:
                if id(a) not in moved_from:
                    out.append(self.step_sentence(a, "removed"))
            elif a is None:
                if id(b) in moved:
                    source = moved[id(b)]
                    out.append(
                        self.step_sentence(
                            {**b, "position": source.get("position")},
                            f"moved to step {b.get('position')}",
                        )
                    )
                else:
                    out.append(self.step_sentence(b, "added"))
            elif a.get("verb") != b.get("verb"):
                summary = self.step_summary(b)
                head = f"step {b.get('position')} {_verb(a.get('verb'))} -> {_verb(b.get('verb'))}"
                out.append(f"{head}: {summary}" if summary else head)
            else:
                label = f"step {b.get('position')} ({_verb(b.get('verb'))})"
                labels = _HOURS_LABELS if b.get("verb") == Step.Verb.HOURS else {}
                for change in self.field_changes(
                    Step, a, b, skip=("flow", "position", "verb"), labels=labels
                ):
                    out.append(f"{label} {change}")
        return out

    # --- options ---

    def option_label(self, option: dict) -> str:
        if option.get("digits"):
            return f"option {option['digits']}"
        return f"option {quote(option.get('phrase', ''))}"

    def options(self, old: dict[tuple, dict], new: dict[tuple, dict]) -> list[str]:
        out = []
        for key in sorted(set(old) | set(new), key=_option_order):
            a, b = old.get(key), new.get(key)
            if b is None:
                out.append(
                    f"{self.option_label(a)} removed (it led to "
                    f"{self.flow(_key(a.get('target_flow')))})"
                )
            elif a is None:
                words = (
                    f" (say {quote(b['phrase'])})" if b.get("digits") and b.get("phrase") else ""
                )
                out.append(
                    f"{self.option_label(b)}{words} added -> "
                    f"{self.flow(_key(b.get('target_flow')))}"
                )
            else:
                label = self.option_label(b)
                if _key(a.get("target_flow")) != _key(b.get("target_flow")):
                    out.append(
                        f"{label} now leads to {self.flow(_key(b.get('target_flow')))} "
                        f"(was {self.flow(_key(a.get('target_flow')))})"
                    )
                for change in self.field_changes(
                    MenuOption, a, b, skip=("flow", "target_flow", key[0])
                ):
                    out.append(f"{label} {change}")
        return out

    # --- numbers and SMS rules ---

    def numbers(self, before: _Release, after: _Release) -> list[str]:
        out = []
        for number in sorted(set(before.numbers) | set(after.numbers)):
            old, new = before.numbers.get(number), after.numbers.get(number)
            was = _key(old.get("call_flow")) if old else None
            now = _key(new.get("call_flow")) if new else None
            if new is None:
                out.append(
                    f"Number {number} removed (it answered with {self.flow(was)})"
                    if was
                    else f"Number {number} removed"
                )
            elif old is None and now is None:
                out.append(f"Number {number} added (no flow answers it)")
            elif was == now:
                continue
            elif now is None:
                out.append(
                    f"Number {number} no longer answers with {self.flow(was)} "
                    '(callers hear "not available")'
                )
            elif was is None:
                out.append(f"Number {number} now answers with {self.flow(now)}")
            else:
                out.append(
                    f"Number {number} now answers with {self.flow(now)} (was {self.flow(was)})"
                )
        return out

    def sms_rules(self, before: _Release, after: _Release) -> list[str]:
        out = []
        for key in sorted(set(before.rules) | set(after.rules)):
            number, keyword = key
            old, new = before.rules.get(key), after.rules.get(key)
            label = (
                f"SMS rule {keyword} of {number}"
                if keyword
                else f"SMS rule (default reply) of {number}"
            )
            if new is None:
                out.append(f"{label} removed")
            elif old is None:
                reply = new.get("reply", "")
                media = new.get("media_url", "")
                shown = quote(reply) if reply else f"media {quote(media)}"
                out.append(f"{label} added: {shown}")
            else:
                for change in self.field_changes(
                    SmsRule, old, new, skip=("phone_number", "keyword")
                ):
                    out.append(f"{label}: {change}")
        return out

    def caller_rule_summary(self, rule: dict) -> str:
        flow = self.flow(_key(rule["flow"]) if rule.get("flow") else None)
        if rule.get("kind") == CallerRule.Kind.PRIORITY:
            return f"priority: calls go to {flow}"
        action = rule.get("action", CallerRule.Action.BUSY)
        if action == CallerRule.Action.FLOW:
            done = f"calls go to {flow}"
        else:
            done = f"calls are refused ({CallerRule.Action(action).label.lower()})"
        if rule.get("applies_to_sms", True):
            done += ", texts get no reply"
        return f"blocked: {done}"

    def caller_rules(self, before: _Release, after: _Release) -> list[str]:
        out = []
        for key in sorted(set(before.callers) | set(after.callers)):
            number, pattern = key
            old, new = before.callers.get(key), after.callers.get(key)
            label = f"Caller rule for {pattern} calling {number or 'any of our numbers'}"
            if new is None:
                out.append(f"{label} removed")
            elif old is None:
                out.append(f"{label} added: {self.caller_rule_summary(new)}")
            else:
                for change in self.field_changes(
                    CallerRule, old, new, skip=("phone_number", "pattern")
                ):
                    out.append(f"{label}: {change}")
        return out

    # --- schedules ---

    def schedules(self, before: _Release, after: _Release) -> list[str]:
        out = []
        for name in sorted(set(before.schedules) | set(after.schedules), key=str.lower):
            old, new = before.schedules.get(name), after.schedules.get(name)
            label = f"Schedule {quote(name)}"
            if new is None:
                out.append(f"{label} removed")
                continue
            if old is None:
                counts = [
                    _plural(len(after.ranges[name]), "weekly range"),
                    _plural(len(after.closures[name]), "closed date"),
                ]
                if after.specials[name]:
                    counts.append(_plural(len(after.specials[name]), "special day"))
                region = "-".join(
                    filter(None, [new.get("holiday_country"), new.get("holiday_subdivision")])
                )
                holidays = f", {region} holidays" if region else ""
                out.append(
                    f"{label} added ({new.get('time_zone') or 'no time zone'}{holidays}; "
                    f"{', '.join(counts)})"
                )
                continue
            for change in self.field_changes(Schedule, old, new, skip=("name",)):
                out.append(f"{label}: {change}")
            out += [f"{label}: {change}" for change in _weekly_changes(before, after, name)]
            out += [f"{label}: {change}" for change in _closure_changes(before, after, name)]
            out += [f"{label}: {change}" for change in _special_changes(before, after, name)]
        return out


_HOURS_LABELS = {"next_flow": "if closed", "open_flow": "if open"}


def _time(value) -> str:
    """ "09:00:00" (as a fixture writes a time) -> "09:00"."""
    return str(value)[:5] if value else ""


def _ranges_text(rows: list[dict]) -> str:
    spans = sorted(f"{_time(r.get('opens'))}-{_time(r.get('closes'))}" for r in rows)
    return ", ".join(spans) if spans else "(closed)"


def _weekly_changes(before: _Release, after: _Release, name: str) -> list[str]:
    out = []
    for number, day in WEEKDAYS:
        old = [r for r in before.ranges[name] if r.get("weekday") == number]
        new = [r for r in after.ranges[name] if r.get("weekday") == number]
        if _ranges_text(old) != _ranges_text(new):
            out.append(f"{day} {_ranges_text(old)} -> {_ranges_text(new)}")
    return out


def _days(fields: dict) -> str:
    starts, ends = fields.get("starts"), fields.get("ends")
    return f"{starts} to {ends}" if ends and ends != starts else str(starts)


def _closure_changes(before: _Release, after: _Release, name: str) -> list[str]:
    out = []
    old_all, new_all = before.closures[name], after.closures[name]
    for starts in sorted(set(old_all) | set(new_all)):
        old, new = old_all.get(starts), new_all.get(starts)
        if new is None:
            out.append(f"closed {_days(old)} removed ({quote(old.get('label', ''))})")
        elif old is None:
            out.append(f"closed {_days(new)} added: {quote(new.get('label', ''))}")
        elif _days(old) != _days(new) or old.get("label") != new.get("label"):
            out.append(
                f"closed {_days(old)} {quote(old.get('label', ''))} -> "
                f"{_days(new)} {quote(new.get('label', ''))}"
            )
    return out


def _special_text(rows: list[dict]) -> str:
    parts = sorted(
        (f"{_time(r['opens'])}-{_time(r.get('closes'))}" if r.get("opens") else "usual hours")
        + f" {quote(r.get('label', ''))}"
        for r in rows
    )
    return ", ".join(parts)


def _special_changes(before: _Release, after: _Release, name: str) -> list[str]:
    out = []
    old_by_day, new_by_day = defaultdict(list), defaultdict(list)
    for row in before.specials[name]:
        old_by_day[row.get("date")].append(row)
    for row in after.specials[name]:
        new_by_day[row.get("date")].append(row)
    for day in sorted(set(old_by_day) | set(new_by_day)):
        old, new = _special_text(old_by_day[day]), _special_text(new_by_day[day])
        if not new:
            out.append(f"special day {day} removed ({old})")
        elif not old:
            out.append(f"special day {day} added: {new}")
        elif old != new:
            out.append(f"special day {day} {old} -> {new}")
    return out


# Text fields shown as they are (not quoted): numbers and identities.
_PLAIN = {"caller_id", "number", "dial_target"}


def _option_order(key: tuple) -> tuple:
    kind, value = key
    return (kind != "digits", len(value) if kind == "digits" else 0, value)


def _content(step: dict) -> str:
    """What a step does, wherever it stands."""
    return json.dumps(
        {k: v for k, v in step.items() if k not in ("position", "flow")}, sort_keys=True
    )


def _align(old: list[dict], new: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """(old step, new step) pairs in running order; None on the side a step is missing."""
    pairs = []
    matcher = SequenceMatcher(None, [_content(s) for s in old], [_content(s) for s in new], False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs += zip(old[i1:i2], new[j1:j2], strict=True)
        elif tag == "delete":
            pairs += [(step, None) for step in old[i1:i2]]
        elif tag == "insert":
            pairs += [(None, step) for step in new[j1:j2]]
        else:
            pairs += _pair_by_verb(old[i1:i2], new[j1:j2])
    return pairs


def _pair_by_verb(old: list[dict], new: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """Changed steps: the same verb in the same order is a changed step; the rest are
    paired in order (a verb change), and what is left over was removed or added."""
    pairs = []
    matcher = SequenceMatcher(
        None, [s.get("verb") for s in old], [s.get("verb") for s in new], False
    )
    for _tag, i1, i2, j1, j2 in matcher.get_opcodes():
        a, b = old[i1:i2], new[j1:j2]
        common = min(len(a), len(b))
        pairs += zip(a[:common], b[:common], strict=True)
        pairs += [(step, None) for step in a[common:]]
        pairs += [(None, step) for step in b[common:]]
    return pairs


def _others(before: _Release, after: _Release) -> list[str]:
    """Models this module does not know yet (a newer release format): said, not itemised."""
    out = []
    for label in sorted(set(before.others) | set(after.others)):
        if sorted(before.others.get(label, [])) != sorted(after.others.get(label, [])):
            try:
                name = str(apps.get_model(label)._meta.verbose_name_plural)
            except (LookupError, ValueError):
                name = label
            out.append(f"{name[:1].upper()}{name[1:]} changed")
    return out
