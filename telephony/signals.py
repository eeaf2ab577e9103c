"""Keep the draft's cache honest: anything staff save that could change the draft (or who
hears it) invalidates it. Releases never change, so nothing here touches them.

Connected in `TelephonyConfig.ready()`. Saves and deletes of anything a release holds
(flows/fixtures.py, RELEASE_FIELDS), test callers, caller IDs and voicemail boxes (admin,
fixtures, shell) all send these signals; bulk `update()` and raw SQL do not, so call
`flows.cache.invalidate()` after those.
"""

from django.db.models.signals import post_delete, post_save

from telephony.flows import cache
from telephony.flows.fixtures import RELEASE_FIELDS
from telephony.models import TestCaller, VerifiedCallerId, VoicemailBox

# Everything a release holds, and what changes a draft without being in one: who hears
# the draft, the caller IDs the checks accept, the boxes Record steps name (a box's
# deletion clears its steps' `box` by a bulk UPDATE, which sends no signal).
RENDERED_MODELS = (*RELEASE_FIELDS, TestCaller, VerifiedCallerId, VoicemailBox)


def invalidate_flow_cache(sender, **kwargs):
    cache.invalidate()


def connect():
    for model in RENDERED_MODELS:
        uid = f"telephony.flows.cache.{model.__name__}"
        post_save.connect(invalidate_flow_cache, sender=model, dispatch_uid=uid + ".save")
        post_delete.connect(invalidate_flow_cache, sender=model, dispatch_uid=uid + ".delete")
