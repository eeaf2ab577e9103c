"""Voicemail: the boxes a Record step records into, and the messages callers left.

A `VoicemailBox` says who may listen (users and groups) and who is told of a new message
(staff users and extra addresses by email, staff phones by SMS), in the box's time zone.
A `Voicemail` is one recording, keyed by Twilio's RecordingSid: the Record action and
the recording and transcription callbacks may come in any order, any number of times,
and all fill the same row.
"""

import re
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from phonenumber_field.phonenumber import to_python

RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")


def default_time_zone() -> str:
    return settings.TIME_ZONE


def _lines(text: str) -> list[str]:
    """Entries of a text field, one per line or separated by commas/semicolons."""
    return [item.strip() for item in re.split(r"[\n,;]+", text or "") if item.strip()]


class VoicemailBoxManager(models.Manager):
    def get_by_natural_key(self, name):
        return self.get(name=name)


class VoicemailBox(models.Model):
    """Where a Record step stores its messages, and who hears of them."""

    name = models.CharField(max_length=100, unique=True, help_text="e.g. Front desk.")
    listeners = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="voicemail_boxes",
        help_text="Staff who may listen to this box's messages (superusers always may).",
    )
    listener_groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="voicemail_boxes",
        help_text="Every member of these groups may listen too.",
    )
    notify_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="voicemail_notices",
        limit_choices_to={"is_staff": True},
        help_text="Staff emailed about each new message (at the address of their account).",
    )
    notify_emails = models.TextField(
        "other email addresses",
        blank=True,
        help_text="More addresses to email about each new message, one per line.",
    )
    notify_phones = models.TextField(
        "phones to text",
        blank=True,
        help_text="Staff mobile numbers (E.164, e.g. +14155550100) texted a short notice, one per line.",
    )
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        help_text="Times in the notices are given in this time zone, e.g. America/New_York.",
    )

    objects = VoicemailBoxManager()

    class Meta:
        ordering = ["name"]
        verbose_name = "voicemail box"
        verbose_name_plural = "voicemail boxes"

    def __str__(self):
        return self.name

    def natural_key(self):
        return (self.name,)

    def clean(self):
        errors = {}
        if self.time_zone not in zoneinfo.available_timezones():
            errors["time_zone"] = (
                f"{self.time_zone!r} is not a time zone name; use one like America/New_York or UTC."
            )
        bad = []
        for address in _lines(self.notify_emails):
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            errors["notify_emails"] = (
                f"Not an email address: {', '.join(bad)}. One address per line."
            )
        phones, bad = [], []
        for entry in _lines(self.notify_phones):
            number = to_python(entry)
            if number is None or not number.is_valid():
                bad.append(entry)
            else:
                phones.append(number.as_e164)
        if bad:
            errors["notify_phones"] = (
                f"Not a phone number: {', '.join(bad)}. Use E.164, e.g. +14155550100, one per line."
            )
        else:
            self.notify_phones = "\n".join(phones)
        if errors:
            raise ValidationError(errors)

    def email_recipients(self) -> list[str]:
        users = self.notify_users.filter(is_active=True).exclude(email="")
        addresses = [user.email for user in users] + _lines(self.notify_emails)
        return list(dict.fromkeys(addresses))  # in order, once each

    def sms_recipients(self) -> list[str]:
        return list(dict.fromkeys(_lines(self.notify_phones)))

    def can_listen(self, user) -> bool:
        if not user.is_active or not user.is_staff:
            return False
        if user.is_superuser:
            return True
        return listenable_boxes(user).filter(pk=self.pk).exists()


def listenable_boxes(user):
    """The boxes `user` may listen to (every box for a superuser)."""
    if not (user.is_active and user.is_staff):
        return VoicemailBox.objects.none()
    if user.is_superuser:
        return VoicemailBox.objects.all()
    return VoicemailBox.objects.filter(
        models.Q(listeners=user) | models.Q(listener_groups__user=user)
    ).distinct()


def unheard_first():
    """0 for a new (unheard) voicemail, 1 for the rest: the inbox's first sort key, and
    the first column of its index, so that the inbox's first page is read from the index
    instead of sorting every voicemail."""
    return models.Case(
        models.When(state="new", then=models.Value(0)),
        default=models.Value(1),
        output_field=models.IntegerField(),
    )


class Voicemail(models.Model):
    """One message a caller left, from Twilio's recording (RecordingSid is unique)."""

    class State(models.TextChoices):
        NEW = "new", "New"
        HEARD = "heard", "Heard"
        ARCHIVED = "archived", "Archived"

    class Notice(models.TextChoices):
        PENDING = "pending", "Waiting (for the transcript or a worker)"
        SENDING = "sending", "Being sent"
        SENT = "sent", "Sent"
        RETRYING = "retrying", "Failed, will retry"
        FAILED = "failed", "Failed"
        NOBODY = "nobody", "Nobody to tell"

    box = models.ForeignKey(
        VoicemailBox,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="voicemails",
        help_text="Blank when the Record step had no box: only superusers see it.",
    )
    caller = models.CharField(max_length=128, blank=True)
    called = models.CharField("number called", max_length=128, blank=True)
    flow = models.ForeignKey(
        "telephony.CallFlow", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    step = models.ForeignKey(
        "telephony.Step", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    call_sid = models.CharField("call SID", max_length=34, blank=True, db_index=True)
    recording_sid = models.CharField("recording SID", max_length=34, unique=True)
    recording_url = models.URLField("recording URL", max_length=500, blank=True)
    recording_status = models.CharField(max_length=20, blank=True)
    duration = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds.")
    expects_transcript = models.BooleanField(default=False)
    transcript = models.TextField(blank=True)
    transcript_status = models.CharField(max_length=20, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.NEW)
    notice_status = models.CharField(max_length=8, choices=Notice.choices, default=Notice.PENDING)
    notice_error = models.TextField(blank=True)
    notice_attempts = models.PositiveSmallIntegerField(default=0)
    deleted_at_twilio = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["state", "-created_at"], name="telephony_vm_state_created"),
            models.Index(
                unheard_first(),
                models.F("created_at").desc(),
                models.F("id").desc(),
                name="telephony_vm_inbox",
            ),
            # The inbox's search by caller (pattern_ops: "starts with" too) and its filter
            # by the number called.
            models.Index(
                fields=["caller"], opclasses=["varchar_pattern_ops"], name="telephony_vm_caller"
            ),
            models.Index(
                fields=["called"], opclasses=["varchar_pattern_ops"], name="telephony_vm_called"
            ),
        ]

    def __str__(self):
        return f"Voicemail from {self.caller or 'unknown caller'} ({self.recording_sid})"

    @property
    def call_log(self):
        from telephony.models.logs import CallLog

        return CallLog.objects.filter(sid=self.call_sid).first() if self.call_sid else None

    def clean(self):
        if not RECORDING_SID.match(self.recording_sid or ""):
            raise ValidationError(
                {"recording_sid": "A Twilio recording SID is RE followed by 32 hex digits."}
            )
