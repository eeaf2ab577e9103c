"""Reads: load a flow (with its steps and options) in a fixed number of queries.

The webhooks never touch the ORM directly; they ask here. Each loader costs the same
number of queries whatever the flow's length or the size of the tables; the `cached_*`
variants cost none at all once a worker has them (see flows/cache.py).
"""

from dataclasses import dataclass

from django.db.models import Prefetch

from telephony.flows import cache
from telephony.models import CallFlow, MenuOption, PhoneNumber, Step


@dataclass(frozen=True)
class LoadedFlow:
    """A flow with everything rendering and routing need, detached from the database."""

    flow: CallFlow
    steps: tuple[Step, ...]
    options: tuple[MenuOption, ...]

    @property
    def slug(self) -> str:
        return self.flow.slug

    def step(self, pk: int) -> Step | None:
        return next((step for step in self.steps if step.pk == pk), None)

    def steps_after(self, step: Step) -> tuple[Step, ...]:
        index = self.steps.index(step)
        return self.steps[index + 1 :]


def _flow_prefetches(prefix: str = "") -> list[Prefetch]:
    return [
        Prefetch(
            f"{prefix}steps",
            queryset=Step.objects.select_related("next_flow", "answered_flow").order_by(
                "position", "pk"
            ),
        ),
        Prefetch(f"{prefix}options", queryset=MenuOption.objects.select_related("target_flow")),
    ]


def _loaded(flow: CallFlow) -> LoadedFlow:
    return LoadedFlow(flow=flow, steps=tuple(flow.steps.all()), options=tuple(flow.options.all()))


def load_flow(slug: str) -> LoadedFlow | None:
    """The flow with this slug, or None. Three queries."""
    flow = CallFlow.objects.prefetch_related(*_flow_prefetches()).filter(slug=slug).first()
    return _loaded(flow) if flow else None


def load_flow_for_number(number: str) -> tuple[PhoneNumber | None, LoadedFlow | None]:
    """The number called and the flow that answers it. Three queries at most."""
    phone = (
        PhoneNumber.objects.select_related("call_flow")
        .prefetch_related(*_flow_prefetches("call_flow__"))
        .filter(number=number)
        .first()
    )
    if phone is None or phone.call_flow is None:
        return phone, None
    return phone, _loaded(phone.call_flow)


# --- cached reads for the webhooks ----------------------------------------------------
# Same results as above, kept per worker until staff next save (see flows/cache.py). The
# objects are shared between requests: treat them as read-only.


def cached_flow(slug: str) -> LoadedFlow | None:
    return cache.memo(("flow", slug), lambda: load_flow(slug))


def cached_flow_for_number(number: str) -> tuple[PhoneNumber | None, LoadedFlow | None]:
    def build():
        phone, loaded = load_flow_for_number(number)
        if loaded is not None:  # the Gather action that follows asks for it by slug
            cache.remember(("flow", loaded.slug), loaded)
        return phone, loaded

    return cache.memo(("number", number), build)
