"""Make the draft a release again: discard draft changes, or import a release file.

The draft's rows are updated in place where a release object has the same natural key
(flow slug, step position, option keys, number, SMS keyword, schedule name and its
rows' weekday and opening time or date), so call logs, voicemails
and admin history keep pointing at the same rows; what the release lacks is deleted, and
what it adds is created. Django's own deserializer reads the fixture, as `loaddata` does.
A number the release lacks is kept (numbers are the account's) but answers nothing.
"""

import json

from django.core import serializers
from django.core.serializers.base import DeserializationError
from django.db import transaction
from django.utils import timezone

from telephony.exceptions import PublishError
from telephony.flows.fixtures import RELEASE_FIELDS
from telephony.models import (
    CallerRule,
    CallFlow,
    ClosedDate,
    MenuOption,
    OpenRange,
    PhoneNumber,
    Release,
    Schedule,
    SmsRule,
    SpecialDay,
    Step,
)
from telephony.releases.publishing import live_release

_MODELS = {model._meta.label_lower: model for model in RELEASE_FIELDS}


class InvalidReleaseFile(PublishError):
    """The file is not a release fixture."""


def parse(fixture: str) -> list[dict]:
    """The fixture's objects; InvalidReleaseFile unless it holds only what releases hold."""
    try:
        objects = json.loads(fixture)
    except (TypeError, ValueError) as error:
        raise InvalidReleaseFile(f"Not a release file: not JSON ({error}).") from error
    if not isinstance(objects, list) or not all(
        isinstance(obj, dict) and obj.get("model") in _MODELS and "fields" in obj for obj in objects
    ):
        raise InvalidReleaseFile(
            "Not a release file: expected a JSON list of flows, steps, options, numbers, "
            "SMS rules and schedules, as `manage.py export_release` writes."
        )
    if any("pk" in obj for obj in objects):
        raise InvalidReleaseFile(
            "Not a release file: it has primary keys (dumpdata without --natural-primary); "
            "rows would be overwritten by id."
        )
    return objects


def _natural_keys(objects: list[dict], model) -> set[tuple]:
    keys = set()
    for obj in objects:
        if obj["model"] != model._meta.label_lower:
            continue
        fields = obj["fields"]
        if model is CallFlow:
            keys.add((fields["slug"],))
        elif model is Step:
            keys.add((fields["flow"][0], fields["position"]))
        elif model is MenuOption:
            keys.add((fields["flow"][0], fields.get("digits", ""), fields.get("phrase", "")))
        elif model is SmsRule:
            keys.add((fields["phone_number"][0], fields.get("keyword", "")))
        elif model is PhoneNumber:
            keys.add((fields["number"],))
        elif model is CallerRule:
            number = fields.get("phone_number")
            keys.add((number[0] if number else "", fields["pattern"]))
        elif model is Schedule:
            keys.add((fields["name"],))
        elif model is OpenRange:
            keys.add((fields["schedule"][0], fields["weekday"], fields["opens"]))
        elif model is ClosedDate:
            keys.add((fields["schedule"][0], fields["starts"]))
        elif model is SpecialDay:
            keys.add((fields["schedule"][0], fields["date"], fields.get("opens")))
    return keys


def _as_in_fixture(key: tuple) -> tuple:
    """A row's natural key as a fixture writes it: dates and times in ISO format."""
    return tuple(part.isoformat() if hasattr(part, "isoformat") else part for part in key)


@transaction.atomic
def reset_draft(fixture: str) -> None:
    """Make the draft exactly what `fixture` (a release) holds."""
    objects = parse(fixture)
    _delete_missing(objects)
    deferred = []
    try:
        for item in serializers.deserialize("python", objects, handle_forward_references=True):
            _stamp(item.object)
            if isinstance(item.object, PhoneNumber) and item.object.pk:
                # An existing number: only which flow answers it is the release's.
                item.object.save(update_fields=["call_flow"])
            else:
                item.save()
            if item.deferred_fields:
                deferred.append(item)
        for item in deferred:  # as loaddata does: references to objects saved later
            item.save_deferred_fields()
    except DeserializationError as error:
        raise InvalidReleaseFile(f"Not a release this install can read: {error}") from error
    numbers = {key[0] for key in _natural_keys(objects, PhoneNumber)}
    for phone in PhoneNumber.objects.exclude(call_flow=None):
        if str(phone.number) not in numbers:
            phone.call_flow = None
            phone.save(update_fields=["call_flow"])


def _stamp(obj) -> None:
    """Fill the timestamps releases leave out: a raw save (as loaddata's) skips auto_now."""
    for field in obj._meta.concrete_fields:
        if getattr(field, "auto_now", False) or (
            getattr(field, "auto_now_add", False) and getattr(obj, field.attname) is None
        ):
            setattr(obj, field.attname, timezone.now())


def _delete_missing(objects: list[dict]) -> None:
    flows = _natural_keys(objects, CallFlow)
    for flow in CallFlow.objects.all():
        if (flow.slug,) not in flows:
            flow.delete()
    steps = _natural_keys(objects, Step)
    for step in Step.objects.select_related("flow"):
        if step.natural_key() not in steps:
            step.delete()
    options = _natural_keys(objects, MenuOption)
    for option in MenuOption.objects.select_related("flow"):
        if option.natural_key() not in options:
            option.delete()
    rules = _natural_keys(objects, SmsRule)
    for rule in SmsRule.objects.select_related("phone_number"):
        if tuple(rule.natural_key()) not in rules:
            rule.delete()
    callers = _natural_keys(objects, CallerRule)
    for caller_rule in CallerRule.objects.select_related("phone_number"):
        if caller_rule.natural_key() not in callers:
            caller_rule.delete()
    schedules = _natural_keys(objects, Schedule)
    for schedule in Schedule.objects.all():
        if (schedule.name,) not in schedules:
            schedule.delete()  # its rows go with it; its steps are updated from the release
    for model in (OpenRange, ClosedDate, SpecialDay):
        keys = _natural_keys(objects, model)
        for row in model.objects.select_related("schedule"):
            if _as_in_fixture(row.natural_key()) not in keys:
                row.delete()


def discard_changes(*, to: int | None = None) -> Release:
    """Reset the draft to release `to` (default: the live one); returns that release."""
    release = Release.objects.filter(number=to).first() if to else live_release()
    if release is None:
        raise PublishError(f"There is no release {to}." if to else "Nothing is published yet.")
    reset_draft(release.fixture)
    return release
