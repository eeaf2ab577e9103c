"""The account's numbers: PhoneNumber (answers calls and texts) and VerifiedCallerId.

Both have their E.164 number as natural key, so fixtures move between environments.
"""

from django.db import models
from phonenumber_field.modelfields import PhoneNumberField


class PhoneNumberManager(models.Manager):
    def get_by_natural_key(self, number):
        return self.get(number=number)


class PhoneNumber(models.Model):
    """A number the Twilio account owns, and the flow that answers calls to it."""

    number = PhoneNumberField(unique=True, help_text="E.164, e.g. +14155550100.")
    friendly_name = models.CharField(max_length=100, blank=True)
    sid = models.CharField("Twilio SID", max_length=34, blank=True)
    voice_capable = models.BooleanField(default=True)
    sms_capable = models.BooleanField(default=True)
    mms_capable = models.BooleanField(default=False)
    send_rate = models.PositiveIntegerField(
        default=1,
        blank=True,  # a form left blank keeps the default (clean)
        help_text="Message segments per second Twilio lets this number send: 1 for a US "
        "long code, 3 for toll-free, 100+ for a short code (broadcasts keep to it).",
    )
    call_flow = models.ForeignKey(
        "telephony.CallFlow",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="phone_numbers",
        help_text="The flow that answers calls to this number.",
    )

    objects = PhoneNumberManager()

    class Meta:
        ordering = ["number"]

    def __str__(self):
        return f"{self.number} ({self.friendly_name})" if self.friendly_name else str(self.number)

    def natural_key(self):
        return (str(self.number),)

    natural_key.dependencies = ["telephony.callflow"]

    def clean(self):
        if not self.send_rate:
            self.send_rate = 1


class VerifiedCallerId(models.Model):
    """A number verified with Twilio: usable as caller ID for calls, never as SMS sender."""

    number = PhoneNumberField(unique=True, help_text="E.164, e.g. +14155550100.")
    friendly_name = models.CharField(max_length=100, blank=True)
    sid = models.CharField("Twilio SID", max_length=34, blank=True)

    objects = PhoneNumberManager()

    class Meta:
        ordering = ["number"]
        verbose_name = "verified caller ID"

    def __str__(self):
        return str(self.number)

    def natural_key(self):
        return (str(self.number),)


def is_our_caller_id(number) -> bool:
    """A Dial callerId must be one of our numbers or a verified caller ID (Twilio 21210)."""
    number = str(number)
    return (
        PhoneNumber.objects.filter(number=number).exists()
        or VerifiedCallerId.objects.filter(number=number).exists()
    )
