"""The voicemail inbox and its boxes.

Staff see the messages of the boxes they may listen to (a box's listeners and listener
groups; superusers see every box, and messages left without a box). New messages come
first. Each row has a player: the audio comes through our stream view
(`<pk>/audio/`, telephony/voicemail/audio.py), never straight from Twilio. Playing a
message, or opening its page, marks it heard. Deleting a message deletes the recording at
Twilio first (through the sending backend); if Twilio refuses, the row is kept and the
error shown.
"""

import logging

from django.contrib import admin, messages
from django.http import Http404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from telephony.admin import recordings
from telephony.admin.large_lists import LargeListMixin, NumberSearchMixin
from telephony.exceptions import TelephonyError
from telephony.models import PhoneNumber, Voicemail, VoicemailBox, listenable_boxes
from telephony.models.voicemail import unheard_first
from telephony.voicemail import removal

logger = logging.getLogger(__name__)


@admin.register(VoicemailBox)
class VoicemailBoxAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "who_is_told"]
    search_fields = ["name"]
    filter_horizontal = ["listeners", "listener_groups", "notify_users"]
    fieldsets = [
        (None, {"fields": ["name", "time_zone"]}),
        ("Who may listen", {"fields": ["listeners", "listener_groups"]}),
        (
            "Who is told of a new message",
            {"fields": ["notify_users", "notify_emails", "notify_phones"]},
        ),
    ]

    @admin.display(description="told by email / text")
    def who_is_told(self, box):
        return f"{len(box.email_recipients())} / {len(box.sms_recipients())}"


def _may_listen(user, obj=None) -> bool:
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    boxes = listenable_boxes(user)
    if obj is None:
        return boxes.exists()
    return obj.box_id is not None and boxes.filter(pk=obj.box_id).exists()


class BoxFilter(admin.RelatedFieldListFilter):
    """Only the boxes the user may listen to."""

    def field_choices(self, field, request, model_admin):
        return [(box.pk, str(box)) for box in listenable_boxes(request.user)]


class CalledFilter(admin.SimpleListFilter):
    """Our numbers, from the numbers table (not a DISTINCT over every voicemail)."""

    title = "number called"
    parameter_name = "called"

    def lookups(self, request, model_admin):
        numbers = [
            str(n) for n in PhoneNumber.objects.order_by("number").values_list("number", flat=True)
        ]
        if self.value() and self.value() not in numbers:
            numbers.append(self.value())  # a number no longer ours still filters
        return [(number, number) for number in numbers]

    def queryset(self, request, queryset):
        return queryset.filter(called=self.value()) if self.value() else queryset


@admin.register(Voicemail)
class VoicemailAdmin(LargeListMixin, NumberSearchMixin, admin.ModelAdmin):
    list_display = [
        "received",
        "caller",
        "called",
        "box",
        "length",
        "player",
        "transcript_start",
        "state",
        "notice_status",
    ]
    list_display_links = ["received"]
    list_filter = [
        ("box", BoxFilter),
        CalledFilter,
        ("created_at", admin.DateFieldListFilter),
        "state",
        "notice_status",
    ]
    # Numbers: NumberSearchMixin, on indexes; other words read every transcript.
    search_fields = ["transcript"]
    number_search_fields = ["caller", "called"]
    sid_search_fields = ["recording_sid", "call_sid"]
    actions = ["mark_heard", "mark_new", "archive"]
    fields = [
        "player",
        "state",
        "box",
        "caller",
        "called",
        "created_at",
        "duration",
        "transcript",
        "transcript_status",
        "notice_status",
        "notice_error",
        "call",
        "flow",
        "recording_sid",
        "recording_status",
    ]
    readonly_fields = [name for name in fields if name != "state"]
    list_per_page = 50

    class Media:
        css = {"all": ["telephony/voicemail.css"]}

    # --- who sees what -------------------------------------------------------------

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("box", "flow")
        if not request.user.is_superuser:
            queryset = queryset.filter(box__in=listenable_boxes(request.user))
        return queryset

    def get_ordering(self, request):
        # Exactly the telephony_vm_inbox index, so the first page is read from it.
        return [unheard_first().asc(), "-created_at", "-pk"]

    def has_module_permission(self, request):
        return _may_listen(request.user)

    def has_view_permission(self, request, obj=None):
        return _may_listen(request.user, obj)

    def has_change_permission(self, request, obj=None):
        return _may_listen(request.user, obj)  # only the state changes (heard, archived)

    def has_add_permission(self, request):
        return False  # messages come from Twilio

    def has_delete_permission(self, request, obj=None):
        return _may_listen(request.user, obj) and request.user.has_perm(
            "telephony.delete_voicemail"
        )

    # --- columns -------------------------------------------------------------------

    @admin.display(description="received", ordering="created_at")
    def received(self, obj):
        label = obj.created_at.strftime("%Y-%m-%d %H:%M")
        return format_html("<strong>{}</strong>", label) if obj.state == obj.State.NEW else label

    @admin.display(description="length", ordering="duration")
    def length(self, obj):
        return f"{obj.duration} s" if obj.duration is not None else "-"

    @admin.display(description="transcript")
    def transcript_start(self, obj):
        return Truncator(obj.transcript).chars(80) if obj.transcript else "-"

    @admin.display(description="listen")
    def player(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return recordings.player(reverse("admin:telephony_voicemail_audio", args=[obj.pk]))

    @admin.display(description="call log")
    def call(self, obj):
        log = obj.call_log
        if log is None:
            return obj.call_sid or "-"
        url = reverse("admin:telephony_calllog_change", args=[log.pk])
        return format_html('<a href="{}">{}</a>', url, log.sid)

    # --- actions -------------------------------------------------------------------

    def _set_state(self, request, queryset, state, verb):
        count = queryset.update(state=state)
        self.message_user(request, f"{count} voicemail(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Mark selected voicemails as heard", permissions=["change"])
    def mark_heard(self, request, queryset):
        self._set_state(request, queryset, Voicemail.State.HEARD, "marked heard")

    @admin.action(description="Mark selected voicemails as new", permissions=["change"])
    def mark_new(self, request, queryset):
        self._set_state(request, queryset, Voicemail.State.NEW, "marked new")

    @admin.action(description="Archive selected voicemails", permissions=["change"])
    def archive(self, request, queryset):
        self._set_state(request, queryset, Voicemail.State.ARCHIVED, "archived")

    # --- opening marks heard; the audio -------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            self.get_queryset(request).filter(pk=object_id, state=Voicemail.State.NEW).update(
                state=Voicemail.State.HEARD
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        audio_view = self.admin_site.admin_view(self.audio_view)
        return [
            path("<int:pk>/audio/", audio_view, name="telephony_voicemail_audio"),
            *super().get_urls(),
        ]

    def audio_view(self, request, pk):
        """The recording, fetched from Twilio's API and streamed (Range passed through)."""
        voicemail = self.get_queryset(request).filter(pk=pk).first()
        if voicemail is None or not self.has_view_permission(request, voicemail):
            raise Http404("No such voicemail.")
        response = recordings.stream(
            request, voicemail.recording_url, f"Voicemail {voicemail.recording_sid}"
        )
        if response.status_code < 300 and voicemail.state == Voicemail.State.NEW:
            Voicemail.objects.filter(pk=pk, state=Voicemail.State.NEW).update(
                state=Voicemail.State.HEARD
            )
        return response

    # --- deleting here and at Twilio ------------------------------------------------

    def _delete_here_and_at_twilio(self, request, obj) -> bool:
        try:
            removal.delete(obj)
        except TelephonyError as exc:
            self.message_user(
                request,
                f"The recording of the voicemail from {obj.caller or 'unknown'} could not be "
                f"deleted at Twilio, so it is kept here: {exc}",
                messages.ERROR,
            )
            return False
        return True

    def delete_model(self, request, obj):
        if not self._delete_here_and_at_twilio(request, obj):
            request._voicemail_kept = True

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def response_delete(self, request, obj_display, obj_id):
        if getattr(request, "_voicemail_kept", False):
            from django.shortcuts import redirect

            return redirect("admin:telephony_voicemail_change", obj_id)
        return super().response_delete(request, obj_display, obj_id)
