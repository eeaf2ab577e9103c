"""Add a flow from a template: a page on the call flow admin (callflow/from-template/).

Staff name the flow, pick a shape (flows/templates.py: a menu, forwarding with voicemail,
open hours, a queue, "text me the address", or an empty flow) and fill in what matters
for it (the number to ring, the address to text, the schedule); the page creates the
draft flow and what it needs, then opens the new flow's page. Every parameter is
optional; a bad one is shown next to its field, and then nothing is created.
Needs "Can add call flow".
"""

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from telephony.flows import templates
from telephony.models import CallFlow, Schedule


class FromTemplateForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What staff call this flow, e.g. Support line."
    )
    template = forms.ChoiceField(
        label="Start from",
        choices=templates.template_choices,  # with their descriptions: __init__
        required=False,
        widget=forms.RadioSelect,
    )
    forward_to = forms.CharField(
        label="Number to ring",
        required=False,
        help_text="Forward with voicemail: the phone to ring, in E.164, e.g. +14155550100.",
    )
    address = forms.CharField(
        label="Text to send",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Text me the address: the text message callers get (your address).",
    )
    schedule = forms.ModelChoiceField(
        queryset=Schedule.objects.all(),
        required=False,
        help_text=f"Open hours: when you are open (blank: {templates.DEFAULT_SCHEDULE}, "
        "Monday to Friday 9 to 5, made if you have none).",
    )
    open_flow = forms.ModelChoiceField(
        label="While open, go to",
        queryset=CallFlow.objects.all(),
        required=False,
        help_text="Open hours: the flow open callers get (blank: a new one, for you to fill in).",
    )

    # Which of the fields above each template takes.
    PARAMS = ("forward_to", "address", "schedule", "open_flow")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Each shape with what it does, so staff choose by what callers will get.
        self.fields["template"].choices = [
            (templates.EMPTY, format_html("<strong>{}</strong>: no steps yet.", "Empty flow")),
            *(
                (t.key, format_html("<strong>{}</strong>: {}", t.label, t.description))
                for t in templates.TEMPLATES.values()
            ),
        ]

    @classmethod
    def fields_of_templates(cls) -> str:
        """{template key: the parameter fields it takes}, as JSON for from_template.js,
        which shows only those (all show without JavaScript)."""
        return json.dumps(
            {
                key: [name for name in cls.PARAMS if name in template.param_names]
                for key, template in templates.TEMPLATES.items()
            }
            | {templates.EMPTY: []}
        )

    def create(self) -> CallFlow:
        key = self.cleaned_data["template"]
        taken = templates.TEMPLATES[key].param_names if key else frozenset()
        params = {
            name: self.cleaned_data[name]
            for name in self.PARAMS
            if name in taken and self.cleaned_data.get(name)
        }
        return templates.create_from_template(key, name=self.cleaned_data["name"], **params)


class FlowTemplatesMixin:
    """Adds the "Add a flow from a template" page to CallFlowAdmin."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.from_template_view)
        name = f"{self.opts.app_label}_{self.opts.model_name}_from_template"
        # Before the ModelAdmin's own URLs: its "<path:object_id>/" would swallow ours.
        return [path("from-template/", view, name=name), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {})}
        if self.has_add_permission(request):
            extra_context["from_template_url"] = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_from_template"
            )
        return super().changelist_view(request, extra_context)

    def from_template_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {"template": request.GET.get("template", "menu")}
        form = FromTemplateForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                flow = form.create()
            except ValidationError as error:
                for name, errors in error.message_dict.items():
                    form.add_error(name if name in form.fields else None, errors)
            else:
                self.log_addition(request, flow, [{"added": {}}])
                messages.success(
                    request,
                    f"Created the flow {flow.name!r} in the draft: check its steps, choose it "
                    "on a number, try it with Simulate a call, then publish.",
                )
                return redirect(
                    reverse(
                        f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                        args=[flow.pk],
                    )
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Add a flow from a template",
            "form": form,
            "fields_of_templates": form.fields_of_templates(),
        }
        return TemplateResponse(request, "admin/telephony/callflow/from_template.html", context)
