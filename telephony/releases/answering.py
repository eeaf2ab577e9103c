"""Which flow answers each of our numbers: in the live release, and in the draft.

For the admin's home page: a number whose draft flow differs from the live one says so
("Support line, after you publish; callers get Main menu now"). The live side comes from
the release this worker holds (flows/loading.py), so this costs one query for the
numbers and their draft flows, and one more the first time the release is asked.
"""

from dataclasses import dataclass

from telephony.flows.loading import live_snapshot
from telephony.models import CallFlow, PhoneNumber


@dataclass(frozen=True)
class NumberAnswer:
    number: PhoneNumber
    draft_flow: CallFlow | None  # the flow staff chose (the draft)
    live_flow_name: str | None  # what callers get now; None: no flow, or not published
    live_flow_slug: str | None
    published: bool  # the number is in the live release at all

    @property
    def changed(self) -> bool:
        """The draft's flow is not the one callers get now."""
        draft_slug = self.draft_flow.slug if self.draft_flow else None
        return draft_slug != self.live_flow_slug


def who_answers() -> list[NumberAnswer]:
    """Every number, by number, with its draft and live flows."""
    live = live_snapshot()
    live_numbers = live.numbers if live is not None else {}  # built at most once: one query
    answers = []
    for number in PhoneNumber.objects.select_related("call_flow").order_by("number"):
        phone = live_numbers.get(str(number.number))
        flow = phone.call_flow if phone is not None else None
        answers.append(
            NumberAnswer(
                number=number,
                draft_flow=number.call_flow,
                live_flow_name=flow.name if flow is not None else None,
                live_flow_slug=flow.slug if flow is not None else None,
                published=phone is not None,
            )
        )
    return answers
