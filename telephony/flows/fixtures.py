"""The draft as a fixture, and a fixture (a release) as flows in memory.

A release is stored in Django's JSON fixture format with natural keys: flows by slug,
steps by (flow, position), options by (flow, digits, phrase), numbers by number, SMS
rules by (number, keyword), caller rules by (number or "", caller), schedules by name and
their rows by (schedule, weekday, opening time) or (schedule, date). That is what `dumpdata --natural-foreign --natural-primary`
writes and `loaddata` reads, so a release moves between environments as a file.

Writing uses Django's serializer. Reading a release back for the webhooks cannot use
Django's deserializer: it resolves natural keys against the rows in the database now,
which are the draft, and a release must be read as it was published (a flow deleted from
the draft since is still in it). So `Snapshot` builds unsaved model instances from the
fixture with each field's own `to_python()` and links them to each other in memory.

Each object gets the primary key of the draft row with the same natural key (one query
per model when a snapshot is built), so call logs and voicemails link to the flows staff
see in the admin; an object no draft row matches gets a negative stand-in key, unique in
the snapshot, which is never written anywhere (see `stored_pk`).
"""

import hashlib
import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError

from telephony.flows.callers import ordered
from telephony.flows.schedules import ScheduleData
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
    VoicemailBox,
)

# What a release holds, in the order `loaddata` creates it. Numbers carry only which
# flow answers them: their SID, name and send rate are the account's, not a release's.
RELEASE_FIELDS = {
    CallFlow: None,
    Step: None,
    MenuOption: None,
    PhoneNumber: ("number", "call_flow"),
    SmsRule: None,
    CallerRule: None,
    # After the flows (as releases before schedules began): steps name their schedule,
    # a forward reference that loaddata (and reset_draft) resolve once it is saved.
    Schedule: None,
    OpenRange: None,
    ClosedDate: None,
    SpecialDay: None,
}
# Kept out of every release: they change on every save without changing any call.
UNRELEASED_FIELDS = {"updated_at", "created_at"}


def _fields(model) -> list[str]:
    names = RELEASE_FIELDS[model]
    if names is not None:
        return list(names)
    return [
        f.name
        for f in model._meta.concrete_fields
        if not f.primary_key and f.name not in UNRELEASED_FIELDS
    ]


def draft_objects() -> dict:
    """The draft's rows, model by model, in a fixed order (so equal drafts hash equal).

    Steps are renumbered 1..n in the order they run, as callers meet them; the rows
    themselves are not touched."""
    steps = list(
        Step.objects.select_related(
            "flow", "next_flow", "answered_flow", "box", "schedule", "open_flow"
        ).order_by("flow__slug", "position", "pk")
    )
    positions = defaultdict(int)
    for step in steps:
        positions[step.flow_id] += 1
        step.position = positions[step.flow_id]
    objects = {
        Schedule: list(Schedule.objects.order_by("name")),
        OpenRange: list(
            OpenRange.objects.select_related("schedule").order_by(
                "schedule__name", "weekday", "opens"
            )
        ),
        ClosedDate: list(
            ClosedDate.objects.select_related("schedule").order_by("schedule__name", "starts")
        ),
        SpecialDay: list(
            SpecialDay.objects.select_related("schedule").order_by(
                "schedule__name", "date", "opens"
            )
        ),
        CallFlow: list(CallFlow.objects.order_by("slug")),
        Step: steps,
        MenuOption: list(
            MenuOption.objects.select_related("flow", "target_flow").order_by(
                "flow__slug", "digits", "phrase"
            )
        ),
        PhoneNumber: list(PhoneNumber.objects.select_related("call_flow").order_by("number")),
        SmsRule: list(
            SmsRule.objects.select_related("phone_number").order_by(
                "phone_number__number", "keyword"
            )
        ),
        CallerRule: list(
            CallerRule.objects.select_related("phone_number", "flow").order_by(
                "phone_number__number", "pattern"
            )
        ),
    }
    return {model: objects[model] for model in RELEASE_FIELDS}


def to_fixture(objects: dict) -> str:
    """Rows as Django's JSON fixture with natural keys (no primary keys)."""
    data = []
    for model, rows in objects.items():
        data += serializers.serialize(
            "python",
            rows,
            fields=_fields(model),
            use_natural_foreign_keys=True,
            use_natural_primary_keys=True,
        )
    return json.dumps(data, cls=DjangoJSONEncoder, indent=1, sort_keys=True, ensure_ascii=False)


def draft_fixture() -> str:
    return to_fixture(draft_objects())


def content_hash(fixture: str) -> str:
    return hashlib.sha256(fixture.encode()).hexdigest()


def stored_pk(obj) -> int | None:
    """The row's primary key, or None for an object of a release no draft row matches."""
    return obj.pk if obj is not None and obj.pk and obj.pk > 0 else None


# --- reading a release ----------------------------------------------------------------


@dataclass(frozen=True)
class LoadedFlow:
    """A flow of a release with its steps and options, detached from the database.

    `release` names the release in the URLs the flow hands Twilio ("7", or "draft");
    `schedules` are the release's, by name (what its Hours steps decide by)."""

    flow: CallFlow
    steps: tuple[Step, ...]
    options: tuple[MenuOption, ...]
    release: str = "draft"
    schedules: dict[str, ScheduleData] = field(default_factory=dict, compare=False)

    @cached_property
    def hours_steps(self) -> tuple[Step, ...]:
        """The flow's Hours steps: its TwiML depends on the time of the call when any."""
        return tuple(step for step in self.steps if step.verb == Step.Verb.HOURS)

    @property
    def slug(self) -> str:
        return self.flow.slug

    def step_at(self, position: int) -> Step | None:
        return next((step for step in self.steps if step.position == position), None)

    def steps_after(self, step: Step) -> tuple[Step, ...]:
        index = self.steps.index(step)
        return self.steps[index + 1 :]


class Snapshot:
    """Everything callers and texters meet in one release, as unsaved model instances.

    Built lazily, because a release may hold thousands of flows and numbers and a call
    needs one flow at a time: reading a release parses its fixture and builds its flows'
    CallFlow rows, rules and schedules; a flow's steps and options are built the first
    time the flow is asked for, a number the first time it is called. Treat it as
    read-only: workers share it between requests (a lock guards the lazy builds), for as
    long as they live."""

    def __init__(self, release: str, reader: "_Reader | None" = None):
        self.release = release
        self._reader = reader or _Reader([])
        self._lock = threading.Lock()
        self._loaded: dict[str, LoadedFlow] = {}
        self.flow_objects: dict[str, CallFlow] = {}
        self.sms_rules: dict[str, dict[str, SmsRule]] = {}
        # Our number (E.164; "" for every number) -> its caller rules, in the order tried.
        self.caller_rules: dict[str, list[CallerRule]] = {}
        self.schedules: dict[str, ScheduleData] = {}

    def flow(self, slug: str) -> LoadedFlow | None:
        loaded = self._loaded.get(slug)
        if loaded is None and slug in self.flow_objects:
            with self._lock:
                loaded = self._loaded.get(slug) or self._build_flow(slug)
        return loaded

    def _build_flow(self, slug: str) -> LoadedFlow:
        flow = self.flow_objects[slug]
        reader = self._reader
        steps = reader.build_rows(
            Step,
            reader.steps_of.get(slug, ()),
            _draft_pks(Step.objects.filter(flow__slug=slug), "flow__slug", "position"),
        )
        options = reader.build_rows(
            MenuOption,
            reader.options_of.get(slug, ()),
            _draft_pks(
                MenuOption.objects.filter(flow__slug=slug), "flow__slug", "digits", "phrase"
            ),
        )
        loaded = LoadedFlow(
            flow=flow,
            steps=tuple(sorted(steps, key=lambda s: s.position)),
            options=tuple(options),
            release=self.release,
            schedules=self.schedules,
        )
        self._loaded[slug] = loaded
        return loaded

    @property
    def flows(self) -> dict[str, LoadedFlow]:
        """Every flow of the release, built (the admin's release page, the diagram)."""
        return {slug: self.flow(slug) for slug in self.flow_objects}

    def phone(self, number: str) -> PhoneNumber | None:
        """One of our numbers as the release has it (built on first use), or None."""
        with self._lock:
            return self._reader.phone(number)

    @property
    def numbers(self) -> dict[str, PhoneNumber]:
        """Every number of the release, built (the admin, the simulator): one query."""
        with self._lock:
            return self._reader.all_phones()

    def flow_for_number(self, number: str) -> tuple[PhoneNumber | None, LoadedFlow | None]:
        phone = self.phone(number)
        if phone is None or phone.call_flow is None:
            return phone, None
        return phone, self.flow(phone.call_flow.slug)

    def rules_for(self, number: str) -> dict[str, SmsRule]:
        """The number's SMS rules by keyword ("" is the default reply)."""
        return self.sms_rules.get(number, {})


class _Reader:
    """Builds one snapshot's instances; `keys` maps (model, natural key) to an instance.

    Steps and options are kept as fixture rows by flow, numbers by number, until asked
    for (Snapshot builds them lazily)."""

    def __init__(self, objects: list[dict]):
        self.by_model = defaultdict(list)
        self.steps_of: dict[str, list[dict]] = defaultdict(list)
        self.options_of: dict[str, list[dict]] = defaultdict(list)
        self.number_fields: dict[str, dict] = {}
        for obj in objects:
            model, fields = obj["model"], obj["fields"]
            if model == _STEP:
                self.steps_of[_slug(fields["flow"])].append(fields)
            elif model == _OPTION:
                self.options_of[_slug(fields["flow"])].append(fields)
            elif model == _NUMBER:
                self.number_fields[str(fields["number"])] = fields
            else:
                self.by_model[model].append(fields)
        self.keys: dict[tuple, object] = {}
        self.stand_in = 0

    def build(self, model, draft_pks: dict[tuple, int]) -> list:
        return self.build_rows(model, self.by_model[model._meta.label_lower], draft_pks)

    def build_rows(self, model, rows, draft_pks: dict[tuple, int]) -> list:
        instances = []
        for fields in rows:
            data, links = {}, {}
            for name, value in fields.items():
                model_field = model._meta.get_field(name)
                if model_field.is_relation:
                    links[model_field] = value
                else:
                    data[model_field.attname] = model_field.to_python(value)
            instance = model(**data)
            for model_field, value in links.items():
                setattr(instance, model_field.name, self.related(model_field, value))
            key = instance.natural_key()
            self.stand_in -= 1
            instance.pk = draft_pks.get(key, self.stand_in)
            self.keys[(model, key)] = instance
            instances.append(instance)
        return instances

    def phone(self, number: str) -> PhoneNumber | None:
        found = self.keys.get((PhoneNumber, (number,)))
        if found is None and number in self.number_fields:
            pks = _draft_pks(PhoneNumber.objects.filter(number=number), "number")
            (found,) = self.build_rows(PhoneNumber, [self.number_fields[number]], pks)
        return found

    def all_phones(self) -> dict[str, PhoneNumber]:
        missing = [n for n in self.number_fields if (PhoneNumber, (n,)) not in self.keys]
        if missing:
            pks = _draft_pks(PhoneNumber.objects.all(), "number")
            self.build_rows(PhoneNumber, [self.number_fields[n] for n in missing], pks)
        return {n: self.keys[(PhoneNumber, (n,))] for n in self.number_fields}

    def related(self, model_field, value):
        if value is None:
            return None
        target = model_field.related_model
        key = tuple(value) if isinstance(value, list) else (value,)
        found = self.keys.get((target, key))
        if found is None and target is PhoneNumber:  # built on first use
            found = self.phone(str(key[0]))
        return found  # a voicemail box read_snapshot() did not find: gone from the draft


_STEP = Step._meta.label_lower
_OPTION = MenuOption._meta.label_lower
_NUMBER = PhoneNumber._meta.label_lower


def _slug(value) -> str:
    return value[0] if isinstance(value, list) else value


def _draft_pks(queryset, *key_fields) -> dict[tuple, int]:
    """{natural key: pk} of the draft's rows in `queryset`; {} while the database is away
    (a worker holding the release still answers, without waiting for it: its rows just
    link to no draft row)."""
    from telephony.flows import cache  # flows/cache.py imports nothing of ours above models

    if not cache.database_reachable():
        return {}
    try:
        return dict(_natural_pks(queryset.values_list(*key_fields, "pk")))
    except DatabaseError as error:
        cache.database_failed(error)
        return {}


def read_snapshot(fixture: str, release: str) -> Snapshot:
    """The release in memory: its fixture parsed, its flows' rows, rules and schedules
    built (a query for the draft's flow keys, one for the voicemail boxes it names and
    one for its schedules, when it has any); steps, options and numbers are built when
    first asked for (Snapshot), with a query for their draft rows' keys (stand-in keys
    while the database is away)."""
    reader = _Reader(json.loads(fixture))
    # Boxes are not released, only named: the rows now, all at once (a flow built later,
    # while the database is away, must not need them).
    names = {_slug(f["box"]) for rows in reader.steps_of.values() for f in rows if f.get("box")}
    for box in VoicemailBox.objects.filter(name__in=names) if names else ():
        reader.keys[(VoicemailBox, (box.name,))] = box
    snapshot = Snapshot(release, reader)
    snapshot.schedules = _read_schedules(reader)
    flows = reader.build(CallFlow, _draft_pks(CallFlow.objects.all(), "slug"))
    snapshot.flow_objects = {flow.slug: flow for flow in flows}
    for rule in reader.build(SmsRule, {}):
        snapshot.sms_rules.setdefault(str(rule.phone_number.number), {})[rule.keyword] = rule
    by_number = defaultdict(list)
    for rule in reader.build(CallerRule, {}):
        by_number[str(rule.phone_number.number) if rule.phone_number else ""].append(rule)
    snapshot.caller_rules = {number: ordered(each) for number, each in by_number.items()}
    return snapshot


def _read_schedules(reader: _Reader) -> dict[str, ScheduleData]:
    """The release's schedules with their rows, by name. A release without any (every
    release before schedules existed) costs no query."""
    if not reader.by_model[Schedule._meta.label_lower]:
        return {}
    schedules = reader.build(
        Schedule, dict(_natural_pks(Schedule.objects.values_list("name", "pk")))
    )
    rows = {model: defaultdict(list) for model in (OpenRange, ClosedDate, SpecialDay)}
    for model in rows:
        for row in reader.build(model, {}):  # nothing links to them: stand-in keys will do
            rows[model][row.schedule.name].append(row)
    return {
        schedule.name: ScheduleData.of(
            schedule,
            rows[OpenRange][schedule.name],
            rows[ClosedDate][schedule.name],
            rows[SpecialDay][schedule.name],
        )
        for schedule in schedules
    }


def _natural_pks(rows):
    """(natural key..., pk) rows -> (natural key tuple, pk) pairs."""
    for *key, pk in rows:
        yield tuple(str(part) if not isinstance(part, int | str) else part for part in key), pk
