"""The call log's filters on what callers did: keys pressed, voicemail, hung up in a menu.

Each is one indexed lookup: "pressed N" a subquery on the call events' partial index of
menu choices (digits, kind, call_sid), "reached voicemail" one on their (kind, at) index, and
"hung up in the menu" the call log's (outcome, created_at) index. Their choices are
fixed, so drawing them counts nothing.
"""

from django.contrib import admin

from telephony.models import CallEvent, CallOutcome

KEYS = [*"1234567890", "*", "#"]


class PressedFilter(admin.SimpleListFilter):
    title = "caller pressed"
    parameter_name = "pressed"

    def lookups(self, request, model_admin):
        return [(key, f"pressed {key}") for key in KEYS]

    def queryset(self, request, queryset):
        value = self.value()
        if value not in KEYS:
            return queryset
        chosen = CallEvent.objects.filter(kind=CallEvent.Kind.INPUT, digits=value)
        return queryset.filter(sid__in=chosen.values("call_sid"))


class JourneyFilter(admin.SimpleListFilter):
    title = "journey"
    parameter_name = "journey"
    VOICEMAIL, ABANDONED = "voicemail", "abandoned"

    def lookups(self, request, model_admin):
        return [(self.VOICEMAIL, "reached voicemail"), (self.ABANDONED, "abandoned in the menu")]

    def queryset(self, request, queryset):
        if self.value() == self.VOICEMAIL:
            left = CallEvent.objects.filter(kind=CallEvent.Kind.VOICEMAIL)
            return queryset.filter(sid__in=left.values("call_sid"))
        if self.value() == self.ABANDONED:
            return queryset.filter(outcome=CallOutcome.ABANDONED)
        return queryset
