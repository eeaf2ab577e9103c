"""Tiny helpers that build flows for tests (plain ORM; no factory library needed)."""

from telephony.models import CallFlow, MenuOption, PhoneNumber, Step


def make_flow(slug="menu", *, name=None, steps=(), options=(), is_active=True) -> CallFlow:
    """A flow with `steps` (dicts of Step fields) and `options` ((digits, target) or dicts)."""
    flow = CallFlow.objects.create(name=name or slug.title(), slug=slug, is_active=is_active)
    for position, fields in enumerate(steps, start=1):
        Step.objects.create(flow=flow, position=position, **fields)
    for option in options:
        if isinstance(option, dict):
            MenuOption.objects.create(flow=flow, **option)
        else:
            digits, target = option
            MenuOption.objects.create(flow=flow, digits=digits, target_flow=target)
    return flow


def make_number(number="+14155550111", flow=None, **fields) -> PhoneNumber:
    return PhoneNumber.objects.create(number=number, call_flow=flow, **fields)
