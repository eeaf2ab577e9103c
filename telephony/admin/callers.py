"""Caller rules in the admin: blocked callers and priority callers, per number or for all."""

from django.contrib import admin

from telephony.admin.releases import DraftNoticeMixin
from telephony.models import CallerRule


@admin.register(CallerRule)
class CallerRuleAdmin(DraftNoticeMixin, admin.ModelAdmin):
    list_display = ["pattern", "kind", "number_or_all", "action", "flow", "applies_to_sms", "note"]
    list_filter = ["kind", "action", "phone_number"]
    search_fields = ["pattern", "note"]
    autocomplete_fields = ["flow"]
    change_list_template = "admin/telephony/draft_change_list.html"
    change_form_template = "admin/telephony/draft_change_form.html"
    fieldsets = [
        (None, {"fields": ["pattern", "phone_number", "kind", "note"]}),
        ("What these callers get", {"fields": ["action", "flow", "applies_to_sms"]}),
    ]

    @admin.display(description="number", ordering="phone_number__number")
    def number_or_all(self, obj):
        return obj.phone_number.number if obj.phone_number_id else "every number"
