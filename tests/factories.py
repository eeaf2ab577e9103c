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


def publish(note: str = "Published by a test.") -> int:
    """Publish the draft (as staff would from the admin); returns the new release's number."""
    from telephony.releases import publishing

    return publishing.publish(note=note).release.number


def live_release() -> str:
    """The live release's number, as URLs name it."""
    from telephony.models import FlowsVersion

    return str(FlowsVersion.current()[1])


def step_path(slug: str, verb: str, outcome: str, *, release: str | None = None) -> str:
    """The path of the first `verb` step's `outcome` webhook (gather, dial, record...) in
    `release` (default: the live one), found by its position among the draft's steps."""
    steps = list(Step.objects.filter(flow__slug=slug).order_by("position", "pk"))
    position = next(i for i, step in enumerate(steps, start=1) if step.verb == verb)
    return f"/twilio/releases/{release or live_release()}/flows/{slug}/steps/{position}/{outcome}/"


def flow_path(slug: str, *, release: str | None = None) -> str:
    """The path of a flow of `release` (default: the live one), as Redirects name it."""
    return f"/twilio/releases/{release or live_release()}/flows/{slug}/"
