"""The staff UI: numbers, caller IDs, and call flows edited on one page.

A flow's page holds its steps (inline, ordered) and its menu options (inline), shows
the TwiML the saved flow produces (the draft's: what test callers hear) and lists what
leads to it. Rules that span the two inlines (an option's keys must fit the flow's
Gather) are checked by linking the option formset to the step formset before validation.

A flow that a number, an option or a step of another flow uses cannot be deleted: the
delete page and the "delete selected" action list what uses it (Django's "protected"
objects) and delete nothing, since callers would reach a dead end once that is published.
We chose refusing over letting the deletion through as a check error that blocks
publishing: staff see the problem where they cause it.
"""

from xml.dom import minidom

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.html import escape, format_html, format_html_join

from telephony.admin.flow_targets import FlowDirectory, FlowTargetField, save_new_targets
from telephony.admin.flow_templates import FlowTemplatesMixin
from telephony.admin.logs import SmsRuleInline  # also registers the log and opt-out admins
from telephony.admin.releases import DraftNoticeMixin
from telephony.admin.step_forms import StepForm, verb_fieldsets
from telephony.admin.tools import FlowToolsMixin, NumberToolsMixin
from telephony.flows import schedules, twiml
from telephony.flows.loading import load_flow
from telephony.models import (
    CallerRule,
    CallFlow,
    MenuOption,
    PhoneNumber,
    Step,
    VerifiedCallerId,
    option_fits_gather,
    renumber_steps,
)
from telephony.tools import flow_checks as flowchecks


class EditorFormSet(forms.BaseInlineFormSet):
    """What the editor's two inlines share: the request's flow names, and rows staff
    added are validated even when left as they came (an empty step is an error that
    says so, never silently dropped)."""

    directory: FlowDirectory | None = None

    def get_form_kwargs(self, index):
        kwargs = {**super().get_form_kwargs(index), "directory": self.directory}
        if index is not None and index >= self.initial_form_count():
            kwargs["empty_permitted"] = False
        return kwargs


class StepFormSet(EditorFormSet):
    """Numbers new steps after the others and refuses two steps at one position."""

    def clean(self):
        live = [f for f in self.forms if f.is_valid() and f.cleaned_data and not self._deleted(f)]
        taken = [f.cleaned_data.get("position") for f in live if f.cleaned_data.get("position")]
        next_position = max(taken, default=0)
        for form in live:
            if not form.cleaned_data.get("position"):
                next_position += 1
                form.cleaned_data["position"] = form.instance.position = next_position
        seen = set()
        for form in live:
            position = form.cleaned_data["position"]
            if position in seen:
                form.add_error("position", f"Another step already has position {position}.")
            seen.add(position)
        super().clean()

    def _deleted(self, form):
        return self.can_delete and self._should_delete_form(form)

    def live_gathers(self) -> list[Step]:
        """The Gather steps this submission will leave in the flow (unsaved instances),
        an invalid one included (what of it is valid), so the options are checked in the
        same round as the steps' errors."""
        self.is_valid()  # every form cleaned
        return [
            form.instance
            for form in self.forms
            if getattr(form, "cleaned_data", None)
            and not self._deleted(form)
            and form.cleaned_data.get("verb") == Step.Verb.GATHER
        ]


class MenuOptionFormSet(EditorFormSet):
    """Checks each option against the Gather(s) of the flow as submitted."""

    steps_formset: StepFormSet | None = None

    def clean(self):
        super().clean()
        if self.steps_formset is None:
            return
        gathers = self.steps_formset.live_gathers()
        # Every option with keys, valid or not: all problems of a save are shown at once.
        live = [
            f
            for f in self.forms
            if getattr(f, "cleaned_data", None) and not self._should_delete_form(f)
        ]
        if live and not gathers:
            raise forms.ValidationError(
                "This flow has menu options but no Gather step to collect them: add a Gather step."
            )
        for form in live:
            for gather in gathers:
                problem = option_fits_gather(form.cleaned_data.get("digits", ""), gather)
                if problem:
                    form.add_error("digits", f"Callers cannot choose this option: {problem}.")
                    break


class StepInline(admin.StackedInline):
    """Steps numbered 1..n as shown, each with only its verb's fields (step_forms.py);
    step_order.js adds up/down buttons, listen.js the Listen buttons."""

    model = Step
    form = StepForm
    formset = StepFormSet
    fk_name = "flow"
    extra = 0
    ordering = ["position", "pk"]
    template = "admin/telephony/callflow/step_inline.html"
    # One fieldset per verb, marked `step-for-<verb>`; step_fields.js shows the chosen
    # verb's only (without JavaScript all show, each headed by its verb).
    fieldsets = [(None, {"fields": [("position", "verb")]}), *verb_fieldsets()]

    class Media:
        js = [
            "telephony/step_fields.js",
            "telephony/step_order.js",
            "telephony/listen.js",
            "telephony/flow_targets.js",
        ]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.directory = FlowDirectory.for_request(request)
        return formset


class MenuOptionForm(forms.ModelForm):
    """An option whose target is typed by name (`goes_to`, flow_targets.py): the flow is
    set on the option in clean(), and a new one is created when the option is saved."""

    goes_to = FlowTargetField(
        label="Goes to",
        help_text="Type a flow's name; a new name makes a new flow when you save "
        "(empty, or from the template chosen beside it).",
    )

    class Meta:
        model = MenuOption
        fields = ["digits", "phrase"]
        labels = {"digits": "Keys", "phrase": "Or words"}

    def __init__(self, *args, directory: FlowDirectory | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.directory = directory or FlowDirectory()
        self.fields["goes_to"].use_directory(self.directory)
        if self.instance.pk is not None:
            self.initial.setdefault("goes_to", self.instance.target_flow_id)

    def clean(self):
        cleaned = super().clean()
        if "goes_to" in cleaned:
            self.instance.target_flow = cleaned["goes_to"]
        return cleaned

    def add_error(self, field, error):
        # The model's "target_flow" is this form's "goes_to".
        if field is None and hasattr(error, "error_dict") and "target_flow" in error.error_dict:
            errors = dict(error.error_dict)
            errors["goes_to"] = errors.pop("target_flow")
            error = ValidationError(errors)
        super().add_error(field, error)

    def save(self, commit=True):
        save_new_targets(self.instance, ["target_flow"], self.directory)
        return super().save(commit)


class MenuOptionInline(admin.TabularInline):
    model = MenuOption
    form = MenuOptionForm
    formset = MenuOptionFormSet
    fields = ["digits", "phrase", "goes_to"]
    fk_name = "flow"
    extra = 0
    verbose_name = "menu option"
    verbose_name_plural = "Menu options (where each key of the menu leads)"

    class Media:
        js = ["telephony/flow_targets.js"]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.directory = FlowDirectory.for_request(request)
        return formset


LEAVING_BUTTONS = ("_open", "_back", "_publish")


class CallFlowForm(forms.ModelForm):
    class Meta:
        model = CallFlow
        fields = ["name", "slug", "description", "is_active"]
        # The admin shows help texts as HTML: escaped, "<slug>" is shown, not eaten.
        help_texts = {
            "slug": escape("Used in the flow's webhook URL: /twilio/voice/flows/<slug>/."),
        }


def _keys(option: MenuOption) -> str:
    return option.digits or repr(option.phrase)


def flow_users(flows) -> list[str]:
    """What uses `flows` from outside them: numbers answering with one, options leading to
    one, steps going to one, caller rules sending callers to one. As links to fix them, for the delete pages' "protected" list."""
    ids = {flow.pk for flow in flows}
    rows = [
        format_html(
            'Number <a href="{}">{}</a> answers with flow {}',
            reverse("admin:telephony_phonenumber_change", args=[number.pk]),
            number,
            number.call_flow.name,
        )
        for number in PhoneNumber.objects.filter(call_flow__in=ids).select_related("call_flow")
    ]
    options = (
        MenuOption.objects.filter(target_flow__in=ids)
        .exclude(flow__in=ids)
        .select_related("flow", "target_flow")
        .order_by("flow__name", "digits", "phrase")
    )
    rows += [
        format_html(
            'Option {} of flow <a href="{}">{}</a> leads to flow {}',
            _keys(option),
            reverse("admin:telephony_callflow_change", args=[option.flow_id]),
            option.flow.name,
            option.target_flow.name,
        )
        for option in options
    ]
    steps = (
        Step.objects.filter(
            Q(next_flow__in=ids)
            | Q(answered_flow__in=ids)
            | Q(give_up_flow__in=ids)
            | Q(open_flow__in=ids)
        )
        .exclude(flow__in=ids)
        .select_related("flow", "next_flow", "answered_flow", "give_up_flow", "open_flow")
        .order_by("flow__name", "position")
    )
    for step in steps:
        targets = [
            flow.name
            for flow in (step.next_flow, step.answered_flow, step.give_up_flow, step.open_flow)
            if flow and flow.pk in ids
        ]
        rows.append(
            format_html(
                'Step {} ({}) of flow <a href="{}">{}</a> goes to flow {}',
                step.position,
                step.get_verb_display(),
                reverse("admin:telephony_callflow_change", args=[step.flow_id]),
                step.flow.name,
                " and ".join(dict.fromkeys(targets)),
            )
        )
    rows += [
        format_html(
            'Caller rule <a href="{}">{}</a> sends callers to flow {}',
            reverse("admin:telephony_callerrule_change", args=[rule.pk]),
            rule,
            rule.flow.name,
        )
        for rule in CallerRule.objects.filter(flow__in=ids).select_related("flow", "phone_number")
    ]
    return rows


@admin.register(CallFlow)
class CallFlowAdmin(DraftNoticeMixin, FlowTemplatesMixin, FlowToolsMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "is_active", "step_count", "updated_at"]
    ordering = ["name"]  # the step-count annotation would drop the model's ordering
    list_filter = ["is_active"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["webhook_url", "entry_points", "twiml_preview"]
    form = CallFlowForm
    inlines = [StepInline, MenuOptionInline]
    change_form_template = "admin/telephony/callflow/change_form.html"
    change_list_template = "admin/telephony/draft_change_list.html"
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "is_active", "webhook_url"]}),
        ("What leads here", {"fields": ["entry_points"]}),
        ("TwiML (as saved, in the draft)", {"fields": ["twiml_preview"]}),
    ]

    # --- building top-down on one page: open a target, come back, publish -------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        context = {
            **(extra_context or {}),
            "flow_labels": FlowDirectory.for_request(request).labels,
            "back_to": lambda: self._back_to(request, object_id),
        }
        return super().changeform_view(request, object_id, form_url, context)

    def _back_to(self, request, object_id) -> CallFlow | None:
        """The flow this page was opened from (?from=, kept through saves), else the one
        flow that leads here, if there is just one."""
        wanted = request.POST.get("_from") or request.GET.get("from") or ""
        if wanted.isdigit() and wanted != str(object_id):
            flow = CallFlow.objects.filter(pk=wanted).first()
            if flow is not None:
                return flow
        if object_id is None or not str(object_id).isdigit():
            return None
        parents = CallFlow.objects.filter(
            Q(options__target_flow=object_id)
            | Q(steps__next_flow=object_id)
            | Q(steps__answered_flow=object_id)
            | Q(steps__give_up_flow=object_id)
            | Q(steps__open_flow=object_id)
        ).exclude(pk=object_id)
        parents = list(parents.distinct()[:2])
        return parents[0] if len(parents) == 1 else None

    def response_add(self, request, obj, post_url_continue=None):
        response = super().response_add(request, obj, post_url_continue)
        return self._editor_redirect(request, obj) or response

    def response_change(self, request, obj):
        response = super().response_change(request, obj)
        return self._editor_redirect(request, obj) or response

    def _warn_findings(self, request, obj):
        """Leaving the page (Open, Save and back, Save and publish): the checks' findings
        would show on the next page, about this one; say in one line where they are."""
        if not any(button in request.POST for button in LEAVING_BUTTONS):
            return super()._warn_findings(request, obj)
        count = len(flowchecks.find_problems(flow=obj))
        if count:
            messages.warning(
                request,
                f"The checks found {count} problem{pluralize(count)} in flow {obj.name}: "
                "see Checks on its page.",
            )

    def _editor_redirect(self, request, obj) -> HttpResponseRedirect | None:
        """Where the editor's own buttons go once the page is saved: Open (a target),
        Save and back (to the flow this one was opened from), Save and publish."""
        change = "admin:telephony_callflow_change"
        if "_open" in request.POST:
            directory = FlowDirectory()  # fresh: the flows this save created are in it
            try:
                target = directory.find(request.POST["_open"])
            except ValidationError:  # several flows have that name: stay here
                target = None
            if target is not None:
                return HttpResponseRedirect(f"{reverse(change, args=[target.pk])}?from={obj.pk}")
        if "_back" in request.POST:
            back = self._back_to(request, obj.pk)
            if back is not None:
                return HttpResponseRedirect(reverse(change, args=[back.pk]))
        if "_publish" in request.POST:
            return HttpResponseRedirect(reverse("admin:telephony_release_publish"))
        # Save and continue, or Enter in a text box (the off-screen "_stay" button):
        # this page again, still knowing the way back.
        if "_continue" in request.POST or "_stay" in request.POST:
            came_from = request.POST.get("_from", "")
            query = f"?from={came_from}" if came_from.isdigit() else ""
            return HttpResponseRedirect(f"{reverse(change, args=[obj.pk])}{query}")
        return None

    def get_deleted_objects(self, objs, request):
        """Refuse to delete a flow something else uses: Django's delete page (and the
        "delete selected" action) show the "protected" list and delete nothing."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, model_count, perms_needed, [*protected, *flow_users(objs)]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_step_count=Count("steps"))

    @admin.display(description="steps", ordering="_step_count")
    def step_count(self, obj):
        return obj._step_count

    @admin.display(description="Webhook URL")
    def webhook_url(self, obj):
        if not obj.pk:
            return "Save the flow to get its URL."
        from telephony.flows.links import live_flow_url

        return live_flow_url(obj.slug)

    @admin.display(description="Numbers, options and steps that lead here")
    def entry_points(self, obj):
        if not obj.pk:
            return "-"
        rows = [
            (reverse("admin:telephony_phonenumber_change", args=[n.pk]), f"Number {n}")
            for n in obj.phone_numbers.all()
        ]
        rows += [
            (
                reverse("admin:telephony_callflow_change", args=[o.flow_id]),
                f"Option {o.digits or repr(o.phrase)} of {o.flow.name}",
            )
            for o in obj.incoming_options.select_related("flow")
        ]
        for related, label in (
            ("entered_from_steps", "goes to"),
            ("answered_from_steps", "answered call"),
            ("given_up_from_steps", "caller made no choice"),
            ("opened_from_steps", "while open"),
        ):
            rows += [
                (
                    reverse("admin:telephony_callflow_change", args=[s.flow_id]),
                    f"Step {s.position} ({s.get_verb_display()}) of {s.flow.name} {label}",
                )
                for s in getattr(obj, related).select_related("flow")
            ]
        if not rows:
            return "Nothing leads to this flow yet: no number, option or step."
        return format_html(
            "<ul>{}</ul>", format_html_join("", '<li><a href="{}">{}</a></li>', rows)
        )

    @admin.display(description="TwiML")
    def twiml_preview(self, obj):
        loaded = load_flow(obj.slug) if obj.pk else None
        if loaded is None:
            return "Save the flow to see its TwiML."
        # Its Hours steps as decided now (the preview says what a caller would get).
        xml = twiml.render_flow(loaded, hours=schedules.decide_flow(loaded, schedules.now()))
        xml = xml.to_xml()
        pretty = minidom.parseString(xml).toprettyxml(indent="  ")
        # Styled (wrapping long lines) by telephony/admin.css: no style attribute, which the
        # Content-Security-Policy would block.
        return format_html('<pre class="twiml-preview">{}</pre>', pretty)

    def _create_formsets(self, request, obj, change):
        # Link the option formset to the step formset so options are validated
        # against the Gather as submitted, not as it was before this save.
        formsets, inline_instances = super()._create_formsets(request, obj, change)
        steps = next((f for f in formsets if isinstance(f, StepFormSet)), None)
        for formset in formsets:
            if isinstance(formset, MenuOptionFormSet):
                formset.steps_formset = steps
        return formsets, inline_instances

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        renumber_steps(form.instance)


@admin.register(PhoneNumber)
class PhoneNumberAdmin(DraftNoticeMixin, NumberToolsMixin, admin.ModelAdmin):
    change_list_template = "admin/telephony/draft_change_list.html"
    list_display = ["number", "friendly_name", "call_flow", "voice_capable", "sms_capable"]
    list_filter = ["voice_capable", "sms_capable", "call_flow"]
    search_fields = ["number", "friendly_name", "sid"]
    autocomplete_fields = ["call_flow"]
    inlines = [SmsRuleInline]


@admin.register(VerifiedCallerId)
class VerifiedCallerIdAdmin(admin.ModelAdmin):
    list_display = ["number", "friendly_name", "sid"]
    search_fields = ["number", "friendly_name", "sid"]
