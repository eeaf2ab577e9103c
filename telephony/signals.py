"""Keep the draft's cache honest: anything staff save that could change the draft (or who
hears it) invalidates it. Releases never change, so nothing here touches them.

Connected in `TelephonyConfig.ready()`. Saves and deletes of flows, steps, menu options,
numbers, caller IDs and schedules (with their hours, closed dates and special days) (admin, fixtures, shell) all send these signals; bulk `update()`
and raw SQL do not, so call `flows.cache.invalidate()` after those.
"""

from django.db.models.signals import post_delete, post_save

from telephony.flows import cache
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
    TestCaller,
    VerifiedCallerId,
    VoicemailBox,
)

# A box's deletion clears its steps' `box` by a bulk UPDATE, which sends no signal.
RENDERED_MODELS = (
    CallerRule,
    CallFlow,
    Step,
    MenuOption,
    PhoneNumber,
    SmsRule,
    TestCaller,
    VerifiedCallerId,
    VoicemailBox,
    Schedule,
    OpenRange,
    ClosedDate,
    SpecialDay,
)


def invalidate_flow_cache(sender, **kwargs):
    cache.invalidate()


def connect():
    for model in RENDERED_MODELS:
        uid = f"telephony.flows.cache.{model.__name__}"
        post_save.connect(invalidate_flow_cache, sender=model, dispatch_uid=uid + ".save")
        post_delete.connect(invalidate_flow_cache, sender=model, dispatch_uid=uid + ".delete")
