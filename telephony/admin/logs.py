"""The admin for what is sent and received: call and message logs, opt-outs, SMS rules,
and two small forms that send a test SMS or start a test call through the services.

Logs are read-only (they record what Twilio did; editing them would only hide it), but
searchable and filterable, and fast at millions of rows (admin/large_lists.py: estimated
counts, filters and a search by number on indexed columns, no date hierarchy). The test forms live at messagelog/send-test-sms/ and
calllog/start-test-call/, linked from each log's list; they need the "add" permission
of the log they write to, and report the outcome (Twilio's SID or its error) as messages.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from telephony.admin import recordings
from telephony.admin.journeys import JourneyFilter, PressedFilter
from telephony.admin.large_lists import (
    ErrorFilter,
    LargeListMixin,
    NumberSearchMixin,
    StatusFilter,
)
from telephony.exceptions import TelephonyError
from telephony.logs.statuses import CALL_RANKS, MESSAGE_RANKS
from telephony.logs.timeline import timeline
from telephony.models import (
    SMS_MAX_CHARS,
    CallFlow,
    CallLog,
    MessageLog,
    OptOut,
    PhoneNumber,
    SmsRule,
    normalize_keyword,
)
from telephony.sending import services


class SmsRuleFormSet(forms.BaseInlineFormSet):
    """Two rows whose keywords differ only in case or spaces would collide in the database."""

    def clean(self):
        super().clean()
        seen = set()
        for form in self.forms:
            if not form.cleaned_data or self._should_delete_form(form):
                continue
            keyword = normalize_keyword(form.cleaned_data.get("keyword", ""))
            if keyword in seen:
                form.add_error("keyword", "Another rule of this number has the same keyword.")
            seen.add(keyword)


class SmsRuleInline(admin.TabularInline):
    """On a phone number's page: its keyword replies and its default reply."""

    model = SmsRule
    formset = SmsRuleFormSet
    extra = 0
    fields = ["keyword", "reply", "media_url"]
    verbose_name_plural = "SMS auto-replies (a blank keyword is the default reply)"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "media_url":
            kwargs["assume_scheme"] = "https"  # Twilio fetches media over https
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "reply":
            field.widget = forms.Textarea(attrs={"rows": 2, "cols": 60})
            field.max_length = SMS_MAX_CHARS
        return field


# --- test forms --------------------------------------------------------------------------------


class SendTestSmsForm(forms.Form):
    to = forms.CharField(label="To", help_text="E.164, e.g. +14155551234.")
    from_ = forms.ModelChoiceField(
        PhoneNumber.objects.filter(sms_capable=True),
        label="From",
        required=False,
        empty_label="Default sender",
        to_field_name="number",
    )
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        initial="Test message from Switchboard.",
        max_length=SMS_MAX_CHARS,
    )

    def send(self) -> MessageLog:
        sender = self.cleaned_data["from_"]
        return services.send_sms(
            to=self.cleaned_data["to"],
            body=self.cleaned_data["body"],
            from_=str(sender.number) if sender else None,
        )


class StartTestCallForm(forms.Form):
    to = forms.CharField(label="To", help_text="E.164, e.g. +14155551234.")
    flow = forms.ModelChoiceField(
        CallFlow.objects.filter(is_active=True),
        required=False,
        to_field_name="slug",
        help_text="The flow to run when they answer (needs TELEPHONY_PUBLIC_URL).",
    )
    url = forms.URLField(label="or TwiML URL", required=False, assume_scheme="https")
    from_ = forms.CharField(
        label="From",
        required=False,
        help_text="One of our numbers or a verified caller ID (blank: our first number).",
    )

    def send(self) -> CallLog:
        return services.make_call(
            to=self.cleaned_data["to"],
            flow=self.cleaned_data["flow"],
            url=self.cleaned_data["url"] or None,
            from_=self.cleaned_data["from_"] or None,
        )


def _report_validation(form: forms.Form, exc: ValidationError) -> None:
    """Put the service's field errors on the matching form fields."""
    if hasattr(exc, "error_dict"):
        for field_name, errors in exc.message_dict.items():
            form.add_error(field_name if field_name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


class TestSendMixin:
    """A form page on the log's admin that sends through the services, then shows the row."""

    test_form_class: type[forms.Form]
    test_url: str
    test_title: str
    change_list_template = "admin/telephony/log_change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.test_view)
        name = f"{self.opts.app_label}_{self.opts.model_name}_test"
        return [path(f"{self.test_url}/", view, name=name), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "test_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_test"),
            "test_title": self.test_title,
            "can_test": self.has_test_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def has_test_permission(self, request) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.add_{self.opts.model_name}")

    def test_view(self, request):
        if not self.has_test_permission(request):
            raise PermissionDenied
        form = self.test_form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                log = form.send()
            except ValidationError as exc:  # TelephonyValidationError: bad input
                _report_validation(form, exc)
            except (TelephonyError, ImproperlyConfigured) as exc:
                messages.error(request, f"Not sent: {exc}")
                return redirect(
                    reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
                )
            else:
                messages.success(
                    request,
                    f"Sent: {log.sid} from {log.from_number} to {log.to_number}, "
                    f"status {log.status}.",
                )
                return redirect(
                    reverse(
                        f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                        args=[log.pk],
                    )
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": self.test_title,
            "form": form,
        }
        return TemplateResponse(request, "admin/telephony/test_send.html", context)


class CallStatusFilter(StatusFilter):
    statuses = [status for status in CALL_RANKS if status]


class MessageStatusFilter(StatusFilter):
    statuses = [status for status in MESSAGE_RANKS if status]


class ReadOnlyLogAdmin(LargeListMixin, NumberSearchMixin, admin.ModelAdmin):
    # No date_hierarchy: it reads the date of every row to draw its links (seconds at a
    # million rows); the "created at" filter picks today, the past 7 days or this month.
    list_per_page = 50
    number_search_fields = ["from_number", "to_number"]
    sid_search_fields = ["sid"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MessageLog)
class MessageLogAdmin(TestSendMixin, ReadOnlyLogAdmin):
    test_form_class = SendTestSmsForm
    test_url = "send-test-sms"
    test_title = "Send a test SMS"
    list_display = [
        "created_at",
        "direction",
        "from_number",
        "to_number",
        "short_body",
        "status",
        "error_code",
        "sid",
    ]
    list_filter = [
        "direction",
        MessageStatusFilter,
        ErrorFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    # Numbers and SIDs: NumberSearchMixin, on indexes; other words read every body.
    search_fields = ["body"]
    sid_search_fields = ["sid", "call_sid"]
    fields = [
        ("sid", "direction", "status"),
        ("from_number", "to_number"),
        "body",
        "media_urls",
        "reply",
        ("error_code", "error_message"),
        ("call_sid", "step"),
        ("created_at", "updated_at"),
    ]

    @admin.display(description="body")
    def short_body(self, obj):
        return Truncator(obj.body).chars(60)


@admin.register(CallLog)
class CallLogAdmin(TestSendMixin, ReadOnlyLogAdmin):
    test_form_class = StartTestCallForm
    test_url = "start-test-call"
    test_title = "Start a test call"
    list_display = [
        "created_at",
        "direction",
        "from_number",
        "to_number",
        "flow",
        "status",
        "duration",
        "error_code",
        "sid",
    ]
    list_filter = [
        "direction",
        CallStatusFilter,
        "outcome",
        JourneyFilter,
        PressedFilter,
        ErrorFilter,
        "flow",
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["flow"]
    # Numbers and SIDs: NumberSearchMixin, on indexes; other words: the conference room.
    search_fields = ["conference"]
    fields = [
        ("sid", "direction", "status"),
        ("from_number", "to_number"),
        ("flow", "url"),
        ("duration", "conference", "outcome"),
        "recording",
        "journey",
        ("error_code", "error_message"),
        ("created_at", "updated_at"),
    ]

    readonly_fields = ["recording", "journey"]

    class Media:
        css = {"all": ["telephony/journey.css"]}

    @admin.display(description="journey")
    def journey(self, obj):
        """What the caller did, event by event (telephony/logs/timeline.py)."""
        lines = timeline(obj) if obj is not None and obj.sid else []
        if not lines:
            return "-"
        items = format_html_join(
            "",
            '<li class="journey-{}"><time>{}</time>{}</li>',
            ((line.kind, line.at, line.text) for line in lines),
        )
        return format_html('<ol class="journey">{}</ol>', items)

    def get_urls(self):
        audio_view = self.admin_site.admin_view(self.audio_view)
        return [
            path("<int:pk>/recording/", audio_view, name="telephony_calllog_recording"),
            *super().get_urls(),
        ]

    @admin.display(description="recording")
    def recording(self, obj):
        if obj is None or not obj.recording_url:
            return "-"
        url = reverse("admin:telephony_calllog_recording", args=[obj.pk])
        seconds = f" ({obj.recording_duration} s)" if obj.recording_duration else ""
        return format_html("{}{}", recordings.player(url), seconds)

    def audio_view(self, request, pk):
        """The call's recording (a Dial with record on), streamed from Twilio's API."""
        log = self.get_queryset(request).filter(pk=pk).first()
        if log is None or not log.recording_url or not self.has_view_permission(request, log):
            raise Http404("No such recording.")
        return recordings.stream(request, log.recording_url, f"Call {log.sid}")


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    """Who must not be texted. Staff may add one (a request by phone) or remove one."""

    list_display = ["number", "source", "keyword", "created_at"]
    list_filter = ["source"]
    search_fields = ["number", "keyword"]
    fields = ["number", "source", "keyword", "created_at"]
    readonly_fields = ["created_at"]
