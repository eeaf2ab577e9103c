"""What keeps the log lists fast at millions of rows (call logs, message logs, voicemails).

Django's changelist counts every row (twice), lists the distinct values of each filtered
column, draws the date hierarchy from every row's date, and searches with icontains over
each search field: each is a full scan, seconds at a million rows. Instead:

- `EstimatedCountPaginator`: on PostgreSQL an unfiltered list is counted from the planner's
  statistics (pg_class.reltuples, kept fresh by autovacuum); anything else is counted up
  to COUNT_CAP rows at most. The list then says "about 1,000,000" or "more than 10,000".
- `StatusFilter`, `ErrorFilter`: the filter choices come from Twilio's status words, and
  from the few error codes (a partial index holds only the rows with one), not from a
  DISTINCT over the table.
- `NumberSearchMixin`: a search for a phone number or a SID looks it up in the indexed
  columns (exact, or the beginning of a number: "+1415"); other words fall back to
  Django's search over `search_fields`.

bench/logs_scale.py times the lists with a year of a busy line.
"""

from __future__ import annotations

import re

import phonenumbers
from django.conf import settings
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q
from django.utils.functional import cached_property

from telephony.phone_numbers import e164

COUNT_CAP = 10_000
_SID = re.compile(r"^(CA|SM|MM|RE)[0-9a-fA-F]{32}$")
_NUMBER_START = re.compile(r"^\+?[\d\s().-]{3,}$")


class EstimatedCountPaginator(Paginator):
    """A paginator that never counts a big table: see the module's docstring.

    `count_words` is what the list shows instead of the bare count when it is not exact
    ("" when it is)."""

    count_words = ""

    @cached_property
    def count(self):
        queryset = self.object_list
        estimate = self._planner_estimate(queryset)
        if estimate is not None and estimate > COUNT_CAP:
            self.count_words = f"about {estimate:,}"
            return estimate
        # Unordered: any index that answers the filter will do to count.
        counted = queryset.order_by()[: COUNT_CAP + 1].count()
        if counted > COUNT_CAP:
            self.count_words = f"more than {COUNT_CAP:,}"
            return COUNT_CAP
        return counted

    @staticmethod
    def _planner_estimate(queryset) -> int | None:
        """The table's row count as PostgreSQL's statistics have it, for an unfiltered
        queryset; None elsewhere, or before the table was first analyzed (-1)."""
        connection = connections[queryset.db]
        if connection.vendor != "postgresql" or queryset.query.where:
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
        return row[0] if row and row[0] >= 0 else None


class LargeListMixin:
    """For the ModelAdmin of a table with millions of rows."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False  # a second COUNT(*) of the whole table


class StatusFilter(admin.SimpleListFilter):
    """Twilio's status words as choices; subclasses give `statuses`."""

    title = "status"
    parameter_name = "status"
    statuses: list[str] = []

    def lookups(self, request, model_admin):
        return [(status, status) for status in self.statuses]

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


class ErrorFilter(admin.SimpleListFilter):
    """Any error, or one of the error codes the table holds (read from a partial index)."""

    title = "error"
    parameter_name = "error"

    def lookups(self, request, model_admin):
        codes = (
            model_admin.get_queryset(request)
            .filter(error_code__isnull=False)
            .order_by("error_code")
            .values_list("error_code", flat=True)
            .distinct()
        )
        return [("any", "Any error"), *((str(code), str(code)) for code in codes[:50])]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "any":
            return queryset.filter(error_code__isnull=False)
        if value and value.isdigit() and len(value) < 10:
            return queryset.filter(error_code=int(value))
        return queryset


def number_lookup(term: str, fields: list[str]) -> Q | None:
    """Rows whose `fields` hold the phone number `term` (exactly, when it is a whole number,
    read in PHONENUMBER_DEFAULT_REGION without a country code; else as its beginning, with
    or without that region's country code), or None when `term` is no phone number."""
    if not _NUMBER_START.match(term):
        return None
    region = settings.PHONENUMBER_DEFAULT_REGION
    whole = e164(term, region=region)
    if whole is not None:
        return _any(fields, "exact", whole)
    digits = re.sub(r"\D", "", term)
    q = _any(fields, "startswith", f"+{digits}")
    country = phonenumbers.country_code_for_region(region or "")
    if not term.startswith("+") and country:
        q |= _any(fields, "startswith", f"+{country}{digits}")
    return q


def _any(fields: list[str], lookup: str, value: str) -> Q:
    q = Q()
    for name in fields:
        q |= Q(**{f"{name}__{lookup}": value})
    return q


class NumberSearchMixin:
    """Search by phone number or SID on indexed columns; other words as Django does."""

    number_search_fields: list[str] = []
    sid_search_fields: list[str] = []
    search_help_text = "A phone number (whole, or its beginning, e.g. +1415), a SID, or words."

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term and _SID.match(term) and self.sid_search_fields:
            return queryset.filter(_any(self.sid_search_fields, "exact", term)), False
        lookup = number_lookup(term, self.number_search_fields) if term else None
        if lookup is not None:
            return queryset.filter(lookup), False
        return super().get_search_results(request, queryset, search_term)
