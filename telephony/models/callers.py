"""Caller rules: who is blocked, and who goes straight to a flow of their own.

A rule belongs to one of our numbers, or to all of them (no number). It names a caller by
number (+14155550100), by prefix (+1900*) or as "anonymous" (callers who withhold their
number). Rules are part of the release: they are applied, before the number's flow, to
what the live release holds (telephony/flows/callers.py decides which rule applies).
"""

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from telephony.models.flows import CallFlow
from telephony.models.numbers import PhoneNumber
from telephony.phone_numbers import e164

ANONYMOUS = "anonymous"
_PREFIX = re.compile(r"^\+[0-9]{1,14}\*$")


class CallerRuleManager(models.Manager):
    def get_by_natural_key(self, number, pattern):
        if number:
            return self.get(phone_number__number=number, pattern=pattern)
        return self.get(phone_number=None, pattern=pattern)


class CallerRule(models.Model):
    class Kind(models.TextChoices):
        BLOCK = "block", "Block"
        PRIORITY = "priority", "Priority"

    class Action(models.TextChoices):
        BUSY = "busy", "Reject with a busy signal"
        REJECTED = "rejected", "Reject as if not in service"
        FLOW = "flow", "Send to a flow"

    phone_number = models.ForeignKey(
        PhoneNumber,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="caller_rules",
        help_text="The number this rule is for (blank: every number).",
    )
    pattern = models.CharField(
        "caller",
        max_length=20,
        help_text="A number (+14155550100), a prefix ending in * (+1900*), or anonymous "
        "for callers who withhold their number.",
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.BLOCK)
    action = models.CharField(
        max_length=8,
        choices=Action.choices,
        default=Action.BUSY,
        help_text="Block: how the call is refused, or the flow blocked callers hear. "
        "Priority: always Send to a flow.",
    )
    flow = models.ForeignKey(
        CallFlow,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="caller_rules",
        help_text="The flow these callers go to (with Send to a flow).",
    )
    applies_to_sms = models.BooleanField(
        "also texts",
        default=True,
        help_text="Block: texts from these numbers get no auto-reply (they are still "
        "logged, and STOP still works).",
    )
    note = models.CharField(max_length=200, blank=True, help_text="Why, e.g. Nuisance caller.")

    objects = CallerRuleManager()

    class Meta:
        ordering = ["phone_number", "pattern"]
        constraints = [
            models.UniqueConstraint(
                fields=["phone_number", "pattern"],
                name="unique_caller_rule",
                violation_error_message="This number already has a rule for this caller.",
            ),
            models.UniqueConstraint(
                fields=["pattern"],
                condition=Q(phone_number=None),
                name="unique_caller_rule_for_all_numbers",
                violation_error_message="There is already a rule for this caller on every number.",
            ),
        ]

    def __str__(self):
        where = self.phone_number.number if self.phone_number_id else "every number"
        return f"{self.get_kind_display()} {self.pattern} ({where})"

    def natural_key(self):
        return (str(self.phone_number.number) if self.phone_number_id else "", self.pattern)

    natural_key.dependencies = ["telephony.phonenumber", "telephony.callflow"]

    def clean(self):
        errors = {}
        pattern = self.pattern.strip()
        if pattern.lower() == ANONYMOUS:
            self.pattern = ANONYMOUS
        elif pattern.endswith("*"):
            if not _PREFIX.match(pattern):
                errors["pattern"] = "A prefix is + and digits, then *, e.g. +1900*."
            self.pattern = pattern
        else:
            number = e164(pattern)
            if number is None:
                errors["pattern"] = (
                    f"{pattern or 'This'} is not a phone number: use E.164 (+14155550100), "
                    "a prefix (+1900*) or anonymous."
                )
            else:
                self.pattern = number
        if self.kind == self.Kind.PRIORITY:
            self.action = self.Action.FLOW
            self.applies_to_sms = False  # a text has no flow to go to
        if self.action == self.Action.FLOW and self.flow_id is None:
            errors["flow"] = "Choose the flow these callers go to."
        elif self.action != self.Action.FLOW:
            self.flow = None
        if errors:
            raise ValidationError(errors)
