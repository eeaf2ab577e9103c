"""Call campaigns in the admin: call a list with a flow of the live release (choose the
flow, the caller ID, the list as for a text broadcast, the calls per second, the start
time), then follow each person's outcome (answered, no answer, busy, failed) and the
option they pressed, on the page and in the CSV export.

A campaign is a Broadcast of kind "call" (the CallCampaign proxy): start, pause, resume
and cancel are the broadcasts' own actions, through telephony.broadcasts.services.
"""

import csv

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import StreamingHttpResponse
from django.utils.html import format_html, format_html_join

from telephony.admin.broadcasts import BroadcastAdmin, BroadcastCreateForm
from telephony.broadcasts import services
from telephony.exceptions import TelephonyValidationError
from telephony.models import CallCampaign, PhoneNumber

RECENT = 50  # recipients listed on a campaign's page (every one is in the CSV export)


class CallCampaignCreateForm(BroadcastCreateForm):
    media_url = None  # a call has no text, nor media
    NOTHING_VALID = "There is no valid number to call."
    flow_slug = forms.ChoiceField(
        label="Call flow",
        help_text="What people hear when they answer: a flow of the live release (publish "
        "a new flow before calling with it). Say, an appointment reminder: press 1 to "
        "confirm, 2 to talk to someone.",
    )

    class Meta:
        model = CallCampaign
        fields = ["name", "flow_slug", "phone_number", "rate", "start_at"]
        labels = {"phone_number": "Caller ID", "rate": "Calls per second"}
        help_texts = {
            "phone_number": "The number of ours people see calling (voice-capable).",
            "rate": "Blank: 1 call a second. At most TELEPHONY_ACCOUNT_MAX_CALL_RATE, the "
            "calls per second Twilio allows the account (1 unless Twilio raised it).",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        flows = services.live_flows()
        self.fields["flow_slug"].choices = [("", "---------"), *flows.items()]
        self.fields["phone_number"].queryset = PhoneNumber.objects.filter(voice_capable=True)
        self.fields["phone_number"].required = True
        self.fields["pasted"].help_text = "One number a line; or upload a CSV below."
        self.fields["upload"].help_text = "A header row with a number (or phone) column."

    def clean_rate(self):
        rate = self.cleaned_data.get("rate")
        limit = settings.TELEPHONY_ACCOUNT_MAX_CALL_RATE
        if rate is not None and rate > limit:
            raise forms.ValidationError(
                f"The account may place {limit:g} call(s) a second (TELEPHONY_ACCOUNT_MAX_CALL_RATE); "
                "ask Twilio to raise it first."
            )
        return rate

    def clean(self):
        data = super().clean()
        try:
            services.check_campaign_flow(data.get("flow_slug") or "")
        except TelephonyValidationError as exc:
            self.add_error("flow_slug", exc.message_dict["flow_slug"])
        return data

    def _post_clean(self):
        self.instance.kind = CallCampaign.Kind.CALL  # its clean() checks a call's fields
        super()._post_clean()


@admin.register(CallCampaign)
class CallCampaignAdmin(BroadcastAdmin):
    list_display = ["name", "state", "flow_slug", "sender_display", "progress_bar", "outcomes"]
    search_fields = ["name", "flow_slug"]
    readonly_fields = ["state", "progress_bar", "counts", "outcomes", "pace", "people", "failures"]
    SETTINGS = CallCampaignCreateForm.Meta.fields
    kind = CallCampaign.Kind.CALL

    # What a running (or finished) campaign shows of its settings, in a call's words.
    SHOWN = ["name", "flow_slug", "caller_id", "calls_per_second", "start_at"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = CallCampaignCreateForm
        else:  # a draft's settings, named as on the add form
            kwargs.setdefault("labels", CallCampaignCreateForm.Meta.labels)
            kwargs.setdefault("help_texts", CallCampaignCreateForm.Meta.help_texts)
        return super(BroadcastAdmin, self).get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*self.SETTINGS, "pasted", "upload", "start_now"]
        if obj.state != CallCampaign.State.DRAFT:
            return [*self.SHOWN, *self.readonly_fields]
        return [*self.SETTINGS, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.state != CallCampaign.State.DRAFT:
            return [*self.SHOWN, *self.readonly_fields]
        return ["flow_slug", *self.readonly_fields]  # checked against the live release

    @admin.display(description="caller ID")
    def caller_id(self, obj):
        return obj.sender

    @admin.display(description="calls per second")
    def calls_per_second(self, obj):
        return f"{obj.sender_rate():g}"

    def save_model(self, request, obj, form, change):
        if change:
            return super(BroadcastAdmin, self).save_model(request, obj, form, change)
        data = form.cleaned_data
        created = services.create_call_campaign(
            name=data["name"],
            flow_slug=data["flow_slug"],
            recipients=form.recipient_list,
            phone_number=data["phone_number"],
            rate=data.get("rate"),
            start_at=data.get("start_at"),
            start=data.get("start_now", False),
        )
        obj.__dict__.update(created.broadcast.__dict__)
        problems = "; ".join(str(p) for p in created.problems[:20])
        self.message_user(
            request,
            f"{created.queued} to call, {created.opted_out} opted out, {created.blocked} "
            f"blocked, {len(created.problems)} invalid, {created.duplicates} duplicates."
            + (f" Skipped: {problems}" if problems else ""),
            messages.WARNING if created.problems else messages.SUCCESS,
        )

    @admin.display(description="counts")
    def counts(self, obj):
        p = services.progress(obj)
        return ", ".join(f"{n} {state}" for state, n in p["counts"].items() if n) or "-"

    @admin.display(description="outcomes")
    def outcomes(self, obj):
        calls = services.call_outcomes(obj)
        parts = [f"{n} {outcome}" for outcome, n in calls["outcomes"].items() if n]
        parts += [f"{n} pressed {key}" for key, n in calls["pressed"].items()]
        return ", ".join(parts) or "-"

    @admin.display(description="rate / time left")
    def pace(self, obj):
        p = services.progress(obj)
        return f"{p['rate']:.2f} calls/s of {obj.sender_rate():g}/s, about {round(p['seconds_left'])} s left"

    @admin.display(description=f"people (the last {RECENT} called)")
    def people(self, obj):
        rows = (
            obj.recipients.exclude(state="queued")
            .select_related("call")
            .order_by("-finished_at", "-pk")[:RECENT]
        )
        return format_html(
            "<table><tr><th>number</th><th>outcome</th><th>option pressed</th>"
            "<th>call SID</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (r.number, r.outcome, r.pressed or "-", (r.call.sid if r.call else "") or "")
                    for r in rows
                ),
            ),
        )

    @admin.action(description="Export recipients' outcomes as CSV")
    def export_results(self, request, queryset):
        class Echo:
            def write(self, value):
                return value

        writer = csv.writer(Echo())
        header = [
            "campaign",
            "number",
            "state",
            "outcome",
            "option pressed",
            "call status",
            "duration",
            "skip reason",
            "error code",
            "error message",
            "call SID",
        ]

        def rows():
            yield writer.writerow(header)
            for campaign in queryset:
                for r in campaign.recipients.select_related("call").iterator(2000):
                    call = r.call
                    yield writer.writerow(
                        [
                            campaign.pk,
                            r.number,
                            r.state,
                            r.outcome,
                            r.pressed,
                            call.status if call else "",
                            call.duration if call and call.duration is not None else "",
                            r.skip_reason,
                            r.error_code or "",
                            r.error_message,
                            (call.sid if call else "") or "",
                        ]
                    )

        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="call-campaign-results.csv"'
        return response
