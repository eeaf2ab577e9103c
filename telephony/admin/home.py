"""The admin is Switchboard's: its header and title, and a home page that starts staff off.

The home page (admin.site.index_template, templates/admin/telephony/index.html) shows,
above Django's list of models:

- each phone number and the flow that answers it (live, and in the draft if different),
  with links to the number, the flow and the simulators;
- the draft's changes not yet published, the first few in words, and the Publish button;
- unheard voicemails: how many, the latest few, and the inbox;
- today's calls: how many, how many were missed, and the call log filtered to today;
- links to the flow diagram (the live release's) and the dashboard, when there is one;
- "Start here" on a new install: create a flow from a template.

`home(request)` gathers it (the template tag `switchboard_home` calls it); each part is
shown only to staff whose permissions let them open the page it links to, and asks the
registered ModelAdmin for its rows, so the home page never shows more than the page behind
it (a voicemail listener sees the unheard messages of their boxes only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from telephony.admin.releases import can_publish
from telephony.flows import cache
from telephony.logs.today import calls_today
from telephony.models import CallFlow, CallLog, PhoneNumber, Release, Voicemail
from telephony.releases import changes
from telephony.releases.answering import who_answers

SITE_HEADER = "Switchboard"
SITE_TITLE = "Switchboard"
INDEX_TITLE = "Your phone line"
SHOW_CHANGES = 5  # sentences of the draft's changes on the home page
SHOW_VOICEMAILS = 3

admin.site.site_header = SITE_HEADER
admin.site.site_title = SITE_TITLE
admin.site.index_title = INDEX_TITLE
admin.site.index_template = "admin/telephony/index.html"


def _url(name: str, *args, query: str = "") -> str | None:
    """The admin URL `name`, or None where it does not exist (a page another part of the
    project adds, such as the dashboard)."""
    try:
        url = reverse(name, args=args)
    except NoReverseMatch:
        return None
    return f"{url}?{query}" if query else url


def _model_admin(model):
    try:
        return admin.site.get_model_admin(model)
    except admin.sites.NotRegistered:
        return None


def _may_view(request, model) -> bool:
    model_admin = _model_admin(model)
    return model_admin is not None and model_admin.has_view_permission(request)


@dataclass
class NumberRow:
    number: PhoneNumber
    url: str | None  # the number's page
    flow_name: str | None  # the flow in the draft (what staff chose)
    flow_url: str | None
    live_flow_name: str | None  # what callers get now
    changed: bool
    simulate_url: str | None
    simulate_sms_url: str | None


@dataclass
class Home:
    numbers: list[NumberRow] | None = None  # None: not allowed to see them
    changes: list[str] | None = None
    change_count: int = 0
    live: int | None = None
    publish_url: str | None = None
    may_publish: bool = False
    voicemail_count: int | None = None
    voicemails: list[Voicemail] = field(default_factory=list)
    inbox_url: str | None = None
    calls: object = None  # logs.today.CallsToday
    calls_url: str | None = None
    missed_url: str | None = None
    diagram_url: str | None = None
    dashboard_url: str | None = None
    start_here: bool = False
    template_url: str | None = None
    add_number_url: str | None = None

    @property
    def more_changes(self) -> int:
        return max(self.change_count - len(self.changes or ()), 0)


def home(request) -> Home:
    user = request.user
    page = Home(dashboard_url=_url("admin:telephony_dashboard"))
    flows_visible = _may_view(request, CallFlow)
    if _may_view(request, PhoneNumber):
        page.numbers = _numbers(request, flows_visible=flows_visible)
    if flows_visible or can_publish(user):
        _draft_changes(page, user)
    if _may_view(request, Voicemail):
        inbox = _model_admin(Voicemail).get_queryset(request).filter(state=Voicemail.State.NEW)
        page.voicemail_count = inbox.count()
        page.voicemails = list(inbox.order_by("-created_at", "-pk")[:SHOW_VOICEMAILS])
        page.inbox_url = _url("admin:telephony_voicemail_changelist", query="state__exact=new")
    if _may_view(request, CallLog):
        page.calls = calls_today()
        page.calls_url = _url("admin:telephony_calllog_changelist", query=page.calls.log_query())
        page.missed_url = _url(
            "admin:telephony_calllog_changelist",
            query=f"{page.calls.log_query()}&outcome__exact=missed",
        )
    if page.live is not None and _may_view(request, Release):
        release = Release.objects.filter(number=page.live).values_list("pk", flat=True).first()
        page.diagram_url = _url("admin:telephony_release_change", release) if release else None
    if not CallFlow.objects.exists() and user.has_perm("telephony.add_callflow"):
        page.start_here = True
    if user.has_perm("telephony.add_callflow"):
        page.template_url = _url("admin:telephony_callflow_from_template")
    if user.has_perm("telephony.add_phonenumber") and not PhoneNumber.objects.exists():
        page.add_number_url = _url("admin:telephony_phonenumber_add")
    return page


def _numbers(request, *, flows_visible: bool) -> list[NumberRow]:
    number_admin = _model_admin(PhoneNumber)
    may_open = number_admin.has_view_permission(request) or number_admin.has_change_permission(
        request
    )
    rows = []
    for answer in who_answers():
        number, flow = answer.number, answer.draft_flow
        rows.append(
            NumberRow(
                number=number,
                url=_url("admin:telephony_phonenumber_change", number.pk) if may_open else None,
                flow_name=flow.name if flow else None,
                flow_url=_url("admin:telephony_callflow_change", flow.pk)
                if flow and flows_visible
                else None,
                live_flow_name=answer.live_flow_name,
                changed=answer.changed,
                simulate_url=_url("admin:telephony_phonenumber_simulate", number.pk)
                if may_open
                else None,
                simulate_sms_url=_url("admin:telephony_phonenumber_simulate_sms", number.pk)
                if may_open and number.sms_capable
                else None,
            )
        )
    return rows


def _draft_changes(page: Home, user) -> None:
    """The draft's changes in words: kept by this worker until the draft next changes
    (flows/cache.memo), as the draft notice's count is."""
    page.live = cache.live_release()
    sentences = cache.memo(("admin", "draft-change-sentences", page.live), changes.describe_draft)
    page.change_count = len(sentences)
    page.changes = sentences[:SHOW_CHANGES]
    page.publish_url = _url("admin:telephony_release_publish")
    page.may_publish = can_publish(user)
