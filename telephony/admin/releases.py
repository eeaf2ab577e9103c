"""Releases in the admin: history, the Publish changes page, draft resets, test callers.

What staff edit in the admin is the draft; callers and texters get the live release
(telephony/releases). Here:

- `ReleaseAdmin`: the release list (read-only: releases never change) and a page per
  release: its note, author, date, hash, the changes from the release before it, its
  flows in words and its diagram, with buttons to make it live again (a rollback) or to
  reset the draft to it. Its URLs also hold the "Publish changes" page
  (release/publish/) and "Discard draft changes" (release/discard/).
- `DraftNoticeMixin`: "You are editing the draft: N changes not yet published", and the
  link to the publish page, on the flow and number pages.
- `TestCallerAdmin`: the phones that hear the draft.

Who may do what: publishing and making a release live again need "Can add release"
(`telephony.add_release`); resetting the draft rewrites flows, so it needs the add, change
and delete permissions of call flows. Every form says which release was live when its page
was drawn (`expected_live`), so a publish by someone else in between is reported, never
silently overridden. Every action that changes something is a POST, after a page that
says what it will change.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from telephony.admin.release_text import sentences_html, snapshot_in_words
from telephony.admin.tools import diagram_html
from telephony.exceptions import NothingToPublish, PublishBlocked, PublishConflict, PublishError
from telephony.flows import cache, loading
from telephony.flows.fixtures import content_hash, draft_fixture
from telephony.models import CallFlow, FlowsVersion, PhoneNumber, Release, TestCaller
from telephony.releases import changes, drafts, publishing
from telephony.tools import diagram, flow_checks

PUBLISH_PERMISSION = "telephony.add_release"
DRAFT_PERMISSIONS = (
    "telephony.add_callflow",
    "telephony.change_callflow",
    "telephony.delete_callflow",
)
LIST_CHANGES = 3  # sentences of a release's changes shown in the release list


def can_publish(user) -> bool:
    return user.has_perm(PUBLISH_PERMISSION)


def can_reset_draft(user) -> bool:
    return user.has_perms(DRAFT_PERMISSIONS)


def error_message(error: PublishError) -> str:
    return " ".join(error.messages)


def live_number() -> int | None:
    """The live release's number, read from the database now (one indexed read)."""
    return FlowsVersion.current()[1]


def parse_expected_live(value: str | None) -> int | None:
    """The form's expected_live: a release number, or None (nothing was live). ValueError
    when the form does not say (a hand-made POST): then nothing is published unreviewed."""
    value = (value or "").strip()
    if value == "none":
        return None
    if value.isdigit() and len(value) < 10:
        return int(value)
    raise ValueError(f"not a release number: {value!r}")


def form_expected_live(number: int | None) -> str:
    """How a page writes the live release into its form's hidden expected_live field."""
    return str(number) if number is not None else "none"


# --- changes, cached where they cannot change ---------------------------------------------


def release_changes(release: Release) -> list[str]:
    """The changes from the release before `release` to it. Both never change, so this
    worker keeps the sentences (flows/cache.py, with the releases it keeps)."""

    def build():
        before = (
            Release.objects.filter(number__lt=release.number)
            .order_by("-number")
            .values_list("fixture", flat=True)
            .first()
        )
        fixture = Release.objects.values_list("fixture", flat=True).get(pk=release.pk)
        return changes.describe(before, fixture)

    return cache.keep(("admin", "release-changes", release.number), build)


def draft_change_count() -> tuple[int, int | None]:
    """(how many changes the draft has that callers do not hear yet, the live release).

    Counted with `changes.describe_draft()` once per change of the draft (or publish) in
    this worker: the flows cache keeps the count until the draft next changes."""
    live = live_number()
    count = cache.memo(("admin", "draft-changes", live), lambda: len(changes.describe_draft()))
    return count, live


def draft_notice() -> dict:
    """What the draft notice says (drawn by admin/telephony/draft_notice.html)."""
    count, live = draft_change_count()
    return {"count": count, "live": live, "publish_url": reverse("admin:telephony_release_publish")}


class DraftNoticeMixin:
    """The draft notice and a "Publish changes" link on a ModelAdmin's list and pages.

    The notice is computed only when the page is drawn (a callable in the context)."""

    def _draft_context(self, request, extra_context) -> dict:
        return {
            **(extra_context or {}),
            "draft_notice": draft_notice,
            "publish_url": reverse("admin:telephony_release_publish"),
        }

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, self._draft_context(request, extra_context))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(
            request, object_id, form_url, self._draft_context(request, extra_context)
        )


def findings_with_links(findings) -> list[dict]:
    """Flow-check findings with the admin page to fix each one (its flow or number)."""
    flows = dict(CallFlow.objects.values_list("slug", "pk"))
    numbers = {str(n): pk for n, pk in PhoneNumber.objects.values_list("number", "pk")}
    rows = []
    for finding in findings:
        url = ""
        if finding.flow in flows:
            url = reverse("admin:telephony_callflow_change", args=[flows[finding.flow]])
        elif finding.number in numbers:
            url = reverse("admin:telephony_phonenumber_change", args=[numbers[finding.number]])
        rows.append({"finding": finding, "url": url})
    return rows


# --- the release admin --------------------------------------------------------------------


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    """Releases, newest first; read-only (has_change_permission is False: view only)."""

    list_display = [
        "number",
        "created_at",
        "author",
        "short_note",
        "is_live",
        "rolled_back_to",
        "change_summary",
    ]
    list_display_links = ["number"]
    list_per_page = 25
    search_fields = ["note"]
    actions = ["make_live_action"]
    change_form_template = "admin/telephony/release/change_form.html"
    change_list_template = "admin/telephony/release/change_list.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "number",
                    "status",
                    "created_at",
                    "published_by",
                    "note",
                    "rolled_back_to",
                    "content_hash",
                    "download",
                ]
            },
        ),
        ("Changes from the release before", {"fields": ["changes_before"]}),
        ("What callers meet in this release", {"fields": ["flows_in_words"]}),
        ("Diagram", {"fields": ["release_diagram"]}),
    ]
    readonly_fields = [
        "number",
        "status",
        "created_at",
        "published_by",
        "note",
        "rolled_back_to",
        "content_hash",
        "download",
        "changes_before",
        "flows_in_words",
        "release_diagram",
    ]

    # Immutable: no add, change or delete for anyone; viewing needs "Can view release".
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_publish_permission(self, request) -> bool:
        return can_publish(request.user)

    def get_queryset(self, request):
        live = FlowsVersion.objects.filter(pk=1, live_release=OuterRef("number"))
        # The fixture (the whole release) is read only where a page needs it.
        queryset = super().get_queryset(request).select_related("author").defer("fixture")
        return queryset.annotate(_live=Exists(live))

    # -- columns and fields --

    @admin.display(description="note")
    def short_note(self, obj):
        return Truncator(obj.note).chars(80) or "-"

    @admin.display(description="live", boolean=True, ordering="_live")
    def is_live(self, obj):
        return obj._live

    @admin.display(description="changes from the release before")
    def change_summary(self, obj):
        sentences = release_changes(obj)
        if not sentences:
            return "no changes"
        shown = sentences[:LIST_CHANGES]
        more = len(sentences) - len(shown)
        return format_html(
            "{}{}",
            format_html_join(mark_safe("<br>"), "{}", ((s,) for s in shown)),
            format_html("<br>... and {} more", more) if more else "",
        )

    @admin.display(description="Status")
    def status(self, obj):
        live = live_number()
        if live == obj.number:
            return "Live: callers and texters get this release."
        if live is None:
            return "Not live: nothing is live."
        return f"Not live: callers get release {live}."

    @admin.display(description="Published by")
    def published_by(self, obj):
        return obj.author or "a shell command or a migration"

    @admin.display(description="Release file")
    def download(self, obj):
        url = reverse("admin:telephony_release_export", args=[obj.pk])
        return format_html(
            '<a href="{}">Download release {} as JSON</a> (what <code>manage.py '
            "import_release</code> reads in another environment)",
            url,
            obj.number,
        )

    @admin.display(description="Changes")
    def changes_before(self, obj):
        previous = Release.objects.filter(number__lt=obj.number).order_by("-number").first()
        intro = (
            format_html("<p>From release {} to release {}:</p>", previous.number, obj.number)
            if previous
            else mark_safe("<p>The first release: everything in it was new.</p>")
        )
        return format_html(
            "{}{}", intro, sentences_html(release_changes(obj), "No changes: the same flows.")
        )

    @admin.display(description="Flows")
    def flows_in_words(self, obj):
        return snapshot_in_words(loading.snapshot(str(obj.number)))

    @admin.display(description="Diagram")
    def release_diagram(self, obj):
        snapshot = loading.snapshot(str(obj.number))
        if snapshot is None or not snapshot.flows:
            return "-"
        return diagram_html(diagram.release_graph(snapshot))

    # -- pages --

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(function)

        # Before the ModelAdmin's own URLs: its "<path:object_id>/" would swallow ours.
        return [
            path("publish/", view(self.publish_view), name="telephony_release_publish"),
            path("discard/", view(self.discard_view), name="telephony_release_discard"),
            path(
                "<path:object_id>/make-live/",
                view(self.make_live_view),
                name="telephony_release_make_live",
            ),
            path(
                "<path:object_id>/reset-draft/",
                view(self.reset_draft_view),
                name="telephony_release_reset_draft",
            ),
            path(
                "<path:object_id>/export/",
                view(self.export_view),
                name="telephony_release_export",
            ),
            *super().get_urls(),
        ]

    def _context(self, request, **extra) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.opts, **extra}

    def _release(self, request, object_id) -> Release:
        if not self.has_view_permission(request):
            raise PermissionDenied
        release = self.get_object(request, unquote(object_id))
        if release is None:
            raise Http404(f"There is no release with id {object_id!r}.")
        return release

    def change_view(self, request, object_id, form_url="", extra_context=None):
        live = live_number()
        release = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "expected_live": form_expected_live(live),
            "is_live": release is not None and release.number == live,
            "can_publish": can_publish(request.user),
            "can_reset_draft": can_reset_draft(request.user),
            "publish_url": reverse("admin:telephony_release_publish"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "publish_url": reverse("admin:telephony_release_publish"),
        }
        return super().changelist_view(request, extra_context)

    @admin.action(description="Make the selected release live again", permissions=["publish"])
    def make_live_action(self, request, queryset):
        releases = list(queryset[:2])
        if len(releases) != 1:
            self.message_user(request, "Select exactly one release to make live.", messages.WARNING)
            return None
        # The confirmation page says what callers would hear differently, then rolls back.
        return HttpResponseRedirect(
            reverse("admin:telephony_release_make_live", args=[releases[0].pk])
        )

    def publish_view(self, request):
        """Publish the draft: its changes in words, the checks, a note; POST publishes.

        Anyone who may see releases or the flows may look (the page is linked from every
        flow page); publishing needs `telephony.add_release`."""
        user = request.user
        if not (
            self.has_view_permission(request)
            or can_publish(user)
            or user.has_perm("telephony.view_callflow")
            or user.has_perm("telephony.change_callflow")
        ):
            raise PermissionDenied
        note = ""
        if request.method == "POST":
            if not can_publish(request.user):
                raise PermissionDenied
            note = request.POST.get("note", "")
            try:
                published = publishing.publish(
                    note=note,
                    author=request.user,
                    expected_live=parse_expected_live(request.POST.get("expected_live")),
                )
            except ValueError:
                messages.error(request, "Not published: review the changes below, then publish.")
            except PublishBlocked as blocked:
                messages.error(request, error_message(blocked))
            except PublishConflict:
                live = live_number()
                messages.error(
                    request,
                    "Not published: someone else published meanwhile (release "
                    f"{live} is live now). The changes below are against it: review them, "
                    "then publish.",
                )
            except NothingToPublish as nothing:
                messages.info(request, error_message(nothing))
            except PublishError as error:
                messages.error(request, error_message(error))
            else:
                release = published.release
                messages.success(
                    request,
                    f"Published release {release.number}: callers and texters get it from "
                    "their next call or message (calls in progress finish on the release "
                    "they began with).",
                )
                return HttpResponseRedirect(
                    reverse("admin:telephony_release_change", args=[release.pk])
                )
        return TemplateResponse(
            request, "admin/telephony/release/publish.html", self._publish_context(request, note)
        )

    def _publish_context(self, request, note: str) -> dict:
        # The live release first: the changes shown are against it, and the form says so.
        live = publishing.live_release()
        draft = draft_fixture()
        findings = flow_checks.find_problems()
        errors = [f for f in findings if f.severity == flow_checks.ERROR]
        warnings = [f for f in findings if f.severity != flow_checks.ERROR]
        return self._context(
            request,
            title="Publish changes",
            live=live,
            changes=changes.describe(live.fixture if live else None, draft),
            unchanged=live is not None and live.content_hash == content_hash(draft),
            errors=findings_with_links(errors),
            warnings=findings_with_links(warnings),
            note=note,
            expected_live=form_expected_live(live.number if live else None),
            can_publish=can_publish(request.user),
            can_reset_draft=can_reset_draft(request.user),
            discard_url=reverse("admin:telephony_release_discard"),
        )

    def discard_view(self, request):
        """Discard draft changes: reset the draft to the live release, after a confirmation."""
        if not can_reset_draft(request.user):
            raise PermissionDenied
        live = publishing.live_release()
        publish_url = reverse("admin:telephony_release_publish")
        if live is None:
            messages.error(request, "Nothing is published yet: there is no release to go back to.")
            return HttpResponseRedirect(publish_url)
        if request.method == "POST" and "confirm" in request.POST:
            if request.POST.get("expected_live") != form_expected_live(live.number):
                messages.error(
                    request,
                    f"Not discarded: release {live.number} was published meanwhile. "
                    "Review the changes again.",
                )
            else:
                drafts.discard_changes(to=live.number)
                messages.success(
                    request,
                    f"Draft changes discarded: the draft is release {live.number} again, "
                    "as callers hear it.",
                )
                return HttpResponseRedirect(publish_url)
        draft = draft_fixture()
        context = self._context(
            request,
            title="Discard draft changes",
            question=f"Discard every change made since release {live.number}, the live release?",
            explanation=(
                "The draft (what you edit) goes back to exactly what callers hear now. "
                "Callers notice nothing. These changes will be lost:"
            ),
            sentences=changes.describe(draft, live.fixture),
            nothing="The draft has no changes: it is the live release already.",
            expected_live=form_expected_live(live.number),
            button="Yes, discard the draft changes",
            cancel_url=publish_url,
            release=live,
        )
        return TemplateResponse(request, "admin/telephony/release/confirm.html", context)

    def make_live_view(self, request, object_id):
        """Make an earlier release live again (a rollback), after a confirmation."""
        release = self._release(request, object_id)
        if not can_publish(request.user):
            raise PermissionDenied
        page = reverse("admin:telephony_release_change", args=[release.pk])
        if request.method == "POST" and "confirm" in request.POST:
            try:
                published = publishing.roll_back(
                    to=release.number,
                    note=request.POST.get("note", ""),
                    author=request.user,
                    expected_live=parse_expected_live(request.POST.get("expected_live")),
                )
            except (ValueError, PublishConflict):
                messages.error(
                    request,
                    f"Not made live: release {live_number()} is live now, not the one this page "
                    "showed (someone else published meanwhile). The changes below are against "
                    "it: review them, then confirm.",
                )
            except NothingToPublish as nothing:
                messages.info(request, error_message(nothing))
                return HttpResponseRedirect(page)
            except PublishError as error:
                messages.error(request, error_message(error))
                return HttpResponseRedirect(page)
            else:
                messages.success(
                    request,
                    f"Release {release.number} is live again, as release "
                    f"{published.release.number}: callers get it from their next call. The "
                    "draft is unchanged (reset it to this release to edit from here).",
                )
                return HttpResponseRedirect(
                    reverse("admin:telephony_release_change", args=[published.release.pk])
                )
        # This page is the review: its changes are against the release live now, and its
        # form says so. Tell when that moved since the release's page was drawn.
        live = publishing.live_release()
        expected = form_expected_live(live.number if live else None)
        shown = request.POST.get("expected_live")
        if "confirm" not in request.POST and shown and shown != expected:
            messages.warning(
                request,
                f"Someone else published since you opened release {release.number}: the "
                "changes below are against the release live now.",
            )
        context = self._context(
            request,
            title=f"Make release {release.number} live again",
            question=(
                f"Make release {release.number} live again? Callers get it from their next "
                "call; calls in progress finish as they began."
            ),
            explanation=(
                f"What callers will meet differently from the live release "
                f"{live.number if live else '(none)'}:"
            ),
            sentences=changes.describe(live.fixture if live else None, release.fixture),
            nothing="Nothing: callers get these flows already.",
            expected_live=expected,
            note_label="Note (why)",
            note=request.POST.get("note", "") or f"Rolled back to release {release.number}.",
            button=f"Yes, make release {release.number} live",
            cancel_url=page,
            release=release,
        )
        return TemplateResponse(request, "admin/telephony/release/confirm.html", context)

    def reset_draft_view(self, request, object_id):
        """Reset the draft to a release (to edit from there), after a confirmation."""
        release = self._release(request, object_id)
        if not can_reset_draft(request.user):
            raise PermissionDenied
        page = reverse("admin:telephony_release_change", args=[release.pk])
        if request.method == "POST" and "confirm" in request.POST:
            try:
                drafts.discard_changes(to=release.number)
            except PublishError as error:
                messages.error(request, error_message(error))
                return HttpResponseRedirect(page)
            messages.success(
                request,
                f"The draft is now release {release.number}. Callers still get the live "
                "release until you publish.",
            )
            return HttpResponseRedirect(reverse("admin:telephony_release_publish"))
        context = self._context(
            request,
            title=f"Reset the draft to release {release.number}",
            question=(
                f"Make the draft (what you edit) exactly release {release.number}? Callers "
                "notice nothing until you publish."
            ),
            explanation="What changes in the draft (unpublished changes in it are lost):",
            sentences=changes.describe(draft_fixture(), release.fixture),
            nothing="Nothing: the draft is this release already.",
            expected_live=form_expected_live(live_number()),
            button=f"Yes, reset the draft to release {release.number}",
            cancel_url=page,
            release=release,
        )
        return TemplateResponse(request, "admin/telephony/release/confirm.html", context)

    def export_view(self, request, object_id):
        release = self._release(request, object_id)
        response = HttpResponse(release.fixture, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="release-{release.number}.json"'
        return response


@admin.register(TestCaller)
class TestCallerAdmin(admin.ModelAdmin):
    """Phones that hear the draft, so staff can try a change before publishing it."""

    list_display = ["number", "name"]
    search_fields = ["number", "name"]
    change_list_template = "admin/telephony/testcaller/change_list.html"
    fieldsets = [
        (
            None,
            {
                "fields": ["number", "name"],
                "description": (
                    "A test caller hears the draft (your unpublished changes) when this phone "
                    "calls or texts any of our numbers; every other caller gets the live "
                    "release. Use it to try a change on a real phone before you publish it."
                ),
            },
        )
    ]
