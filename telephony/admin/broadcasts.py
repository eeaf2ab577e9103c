"""Broadcasts in the admin: create one from a pasted list or a CSV upload (as a draft to
preview, or started at once), start / pause / resume / cancel, progress, and every
recipient's result as CSV. Everything goes through telephony.broadcasts.services.

The progress bar is a <progress> element styled by telephony/admin.css: no inline style,
so the pages pass the strict Content-Security-Policy.
"""

import csv

from django import forms
from django.contrib import admin, messages
from django.http import StreamingHttpResponse
from django.utils.html import format_html, format_html_join

from telephony.broadcasts import recipients, segments, services
from telephony.exceptions import TelephonyValidationError
from telephony.models import Broadcast
from telephony.models.broadcasts import fill, placeholders


class BroadcastCreateForm(forms.ModelForm):
    media_url = forms.URLField(
        label="media URL", required=False, max_length=500, assume_scheme="https"
    )
    pasted = forms.CharField(
        label="Numbers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="One number a line; or upload a CSV below.",
    )
    upload = forms.FileField(
        label="CSV file",
        required=False,
        help_text="A header row with a number (or phone) column; other columns are {placeholders}.",
    )
    start_now = forms.BooleanField(
        required=False, help_text="Unticked: saved as a draft to preview, started from the list."
    )
    NOTHING_VALID = "There is no valid number to text."

    class Meta:
        model = Broadcast
        fields = [
            "name",
            "body",
            "media_url",
            "phone_number",
            "messaging_service_sid",
            "rate",
            "start_at",
        ]

    def clean(self):
        data = super().clean()
        needed = placeholders(data.get("body") or "")
        try:
            if data.get("upload"):
                text = data["upload"].read().decode("utf-8-sig")
                self.recipient_list = recipients.parse_csv(text, needed=needed)
            elif needed:
                raise forms.ValidationError(
                    f"A pasted list has no value for {', '.join('{' + n + '}' for n in needed)}: "
                    "upload a CSV with those columns."
                )
            else:
                self.recipient_list = recipients.parse_pasted(
                    data.get("pasted") or "", needed=needed
                )
        except UnicodeDecodeError:
            raise forms.ValidationError("The CSV file must be UTF-8 text.") from None
        except TelephonyValidationError as exc:
            raise forms.ValidationError(exc.messages) from exc
        if not self.recipient_list.rows:
            raise forms.ValidationError(self.NOTHING_VALID)
        return data


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    list_display = ["name", "state", "sender_display", "progress_bar", "counts", "pace"]
    list_filter = ["state"]
    search_fields = ["name", "body"]
    actions = ["start_now", "pause", "resume", "cancel", "export_results"]
    readonly_fields = ["state", "progress_bar", "counts", "pace", "preview", "failures"]
    kind = Broadcast.Kind.SMS  # call campaigns have their own page (admin/campaigns.py)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(kind=self.kind)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "media_url":
            kwargs["assume_scheme"] = "https"  # Twilio fetches media over https
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = BroadcastCreateForm
        return super().get_form(request, obj, **kwargs)

    # What staff set on a broadcast: editable while it is a draft, shown once it runs.
    SETTINGS = BroadcastCreateForm.Meta.fields

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*BroadcastCreateForm.Meta.fields, "pasted", "upload", "start_now"]
        return [*self.SETTINGS, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.state != Broadcast.State.DRAFT:
            return [*self.SETTINGS, *self.readonly_fields]
        return ["body", *self.readonly_fields]  # the body was checked against the list

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        created = services.create_broadcast(
            name=data["name"],
            body=data["body"],
            recipients=form.recipient_list,
            phone_number=data.get("phone_number"),
            messaging_service_sid=data.get("messaging_service_sid") or "",
            media_url=data.get("media_url") or "",
            rate=data.get("rate"),
            start_at=data.get("start_at"),
            start=data.get("start_now", False),
        )
        obj.__dict__.update(created.broadcast.__dict__)
        problems = "; ".join(str(p) for p in created.problems[:20])
        self.message_user(
            request,
            f"{created.queued} queued, {created.opted_out} opted out, "
            f"{len(created.problems)} invalid, {created.duplicates} duplicates."
            + (f" Skipped: {problems}" if problems else ""),
            messages.WARNING if created.problems else messages.SUCCESS,
        )

    @admin.display(description="sender")
    def sender_display(self, obj):
        return obj.sender

    @admin.display(description="progress")
    def progress_bar(self, obj):
        p = services.progress(obj)
        return format_html(
            '<progress class="broadcast-progress" max="{}" value="{}">{}%</progress> {}%',
            p["total"],
            p["done"],
            p["percent"],
            p["percent"],
        )

    @admin.display(description="counts")
    def counts(self, obj):
        p = services.progress(obj)
        parts = [f"{n} {state}" for state, n in p["counts"].items() if n]
        parts.append(f"{p['delivered']} delivered, {p['undelivered']} undelivered")
        return ", ".join(parts)

    @admin.display(description="rate / time left")
    def pace(self, obj):
        p = services.progress(obj)
        return (
            f"{p['rate']:.1f}/s of {obj.sender_rate():g}/s, about {round(p['seconds_left'])} s left"
        )

    @admin.display(description="preview (first rows)")
    def preview(self, obj):
        rows = []
        for row in obj.recipients.order_by("pk")[:5]:
            text = fill(obj.body, row.variables)
            count = segments.count(text)
            rows.append((row.number, text, count.count, count.encoding))
        return format_html(
            "<table><tr><th>to</th><th>text</th><th>segments</th><th>encoding</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="failures (Twilio's code)")
    def failures(self, obj):
        rows = obj.recipients.filter(state__in=["failed", "unknown"]).values_list(
            "number", "state", "error_code", "error_message"
        )[:20]
        return (
            format_html_join(
                "", "<div>{} {}: {} {}</div>", ((n, s, c or "", m[:200]) for n, s, c, m in rows)
            )
            or "-"
        )

    def _each(self, request, queryset, action, verb):
        done = sum(bool(action(broadcast=b)) for b in queryset)
        self.message_user(request, f"{verb} {done} broadcast(s).")

    @admin.action(description="Start now (drafts)")
    def start_now(self, request, queryset):
        started = 0
        for broadcast in queryset.filter(state=Broadcast.State.DRAFT):
            services.start_broadcast(broadcast=broadcast, at=broadcast.start_at)
            started += 1
        self.message_user(request, f"Started {started} broadcast(s).")

    @admin.action(description="Pause")
    def pause(self, request, queryset):
        self._each(request, queryset, services.pause_broadcast, "Paused")

    @admin.action(description="Resume")
    def resume(self, request, queryset):
        self._each(request, queryset, services.resume_broadcast, "Resumed")

    @admin.action(description="Cancel")
    def cancel(self, request, queryset):
        self._each(request, queryset, services.cancel_broadcast, "Cancelled")

    @admin.action(description="Export recipients' results as CSV")
    def export_results(self, request, queryset):
        class Echo:
            def write(self, value):
                return value

        writer = csv.writer(Echo())
        header = [
            "broadcast",
            "number",
            "state",
            "delivery",
            "skip reason",
            "error code",
            "error message",
            "message SID",
        ]

        def rows():
            yield writer.writerow(header)
            for broadcast in queryset:
                for r in broadcast.recipients.select_related("message").iterator(2000):
                    sid = r.message.sid if r.message else ""
                    yield writer.writerow(
                        [
                            broadcast.pk,
                            r.number,
                            r.state,
                            r.delivery,
                            r.skip_reason,
                            r.error_code or "",
                            r.error_message,
                            sid or "",
                        ]
                    )

        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="broadcast-results.csv"'
        return response
