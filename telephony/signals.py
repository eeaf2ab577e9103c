"""Keep the flow cache honest: anything staff save that could change a call invalidates it.

Connected in `TelephonyConfig.ready()`. Saves and deletes of flows, steps, menu options,
numbers and caller IDs (admin, fixtures, shell) all send these signals; bulk `update()`
and raw SQL do not, so call `flowcache.invalidate()` after those.
"""

from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db.models.signals import post_delete, post_save

from telephony.flows import cache as flowcache
from telephony.models import CallFlow, MenuOption, PhoneNumber, Step, VerifiedCallerId

RENDERED_MODELS = (CallFlow, Step, MenuOption, PhoneNumber, VerifiedCallerId)


def invalidate_flow_cache(sender, **kwargs):
    flowcache.invalidate()


def create_cache_table(sender, using, **kwargs):
    """`migrate` also creates the cache table flowcache's generation may live in."""
    call_command("createcachetable", database=using, verbosity=0)


def connect():
    request_started.connect(flowcache.request_started, dispatch_uid="telephony.flows.cache.start")
    request_finished.connect(flowcache.request_finished, dispatch_uid="telephony.flows.cache.end")
    for model in RENDERED_MODELS:
        uid = f"telephony.flowcache.{model.__name__}"
        post_save.connect(invalidate_flow_cache, sender=model, dispatch_uid=uid + ".save")
        post_delete.connect(invalidate_flow_cache, sender=model, dispatch_uid=uid + ".delete")
