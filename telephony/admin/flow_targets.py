"""Choosing where a caller goes (an option's target, a Dial's "if nobody answers"...)
by typing a flow's name, on the flow's own page: no pop-up windows.

The field is a text box with the names of every flow as suggestions (one <datalist> per
page, `flow-names`) and, beside it, the template a *new* flow starts from. A name that no
flow has is a new flow: the form holds an unsaved CallFlow until the step or option is
saved, and it is created then (empty, or from the template), so a menu can be saved
before its targets exist. Two rows naming the same new flow get one flow.

One `FlowDirectory` per request knows every flow's name (one query), so a page with many
targets costs no query per field, and the flows created by a save are shared by all its
forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from telephony.flows.templates import create_from_template, template_choices
from telephony.models import CallFlow

DATALIST_ID = "flow-names"
_SLUG_SUFFIX = re.compile(r"^(?P<name>.*) \((?P<slug>[-\w]+)\)$")


@dataclass
class FlowDirectory:
    """The flows a request may point at: labels to type, and the new flows it created."""

    _flows: list[tuple[int, str, str]] | None = None
    _by_pk: dict[str, CallFlow] | None = None
    created: dict[str, CallFlow] = field(default_factory=dict)

    @classmethod
    def for_request(cls, request) -> FlowDirectory:
        directory = getattr(request, "_flow_directory", None)
        if directory is None:
            directory = request._flow_directory = cls()
        return directory

    @property
    def flows(self) -> list[tuple[int, str, str]]:
        if self._flows is None:
            self._flows = list(CallFlow.objects.order_by("name").values_list("pk", "name", "slug"))
        return self._flows

    def by_pk(self, pk) -> CallFlow | None:
        if self._by_pk is None:
            self._by_pk = {
                str(row_pk): CallFlow(pk=row_pk, name=name, slug=slug)
                for row_pk, name, slug in self.flows
            }
        return self._by_pk.get(str(pk))

    def _name_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, name, _ in self.flows:
            counts[name.casefold()] = counts.get(name.casefold(), 0) + 1
        return counts

    def labels(self) -> list[str]:
        """What staff type for each flow: its name, or "name (slug)" where names repeat."""
        counts = self._name_counts()
        return [
            name if counts[name.casefold()] == 1 else f"{name} ({slug})"
            for _, name, slug in self.flows
        ]

    def label_of(self, flow: CallFlow) -> str:
        if flow.pk is None:
            return flow.name
        counts = self._name_counts()
        return (
            flow.name if counts.get(flow.name.casefold(), 0) <= 1 else f"{flow.name} ({flow.slug})"
        )

    def find(self, text: str) -> CallFlow | None:
        """The flow `text` names (its name, "name (slug)" or its slug); None: no flow.
        ValidationError when several flows have that name."""
        wanted = text.strip()
        match = _SLUG_SUFFIX.match(wanted)
        if match:
            for pk, name, slug in self.flows:
                if slug == match["slug"] and name.casefold() == match["name"].casefold():
                    return CallFlow(pk=pk, name=name, slug=slug)
        named = [row for row in self.flows if row[1].casefold() == wanted.casefold()]
        if len(named) > 1:
            choices = ", ".join(f"{name} ({slug})" for _, name, slug in named)
            raise ValidationError(f"Several flows are called {wanted}: choose one of {choices}.")
        if named:
            pk, name, slug = named[0]
            return CallFlow(pk=pk, name=name, slug=slug)
        by_slug = [row for row in self.flows if row[2] == wanted]
        if by_slug:
            pk, name, slug = by_slug[0]
            return CallFlow(pk=pk, name=name, slug=slug)
        return None

    def create(self, flow: CallFlow) -> CallFlow:
        """Save the new flow `flow` stands for (from its template), once per name."""
        key = flow.name.strip().casefold()
        if key not in self.created:
            # Asked again: the flow being saved may be the one named (or another request's).
            existing = (
                CallFlow.objects.filter(name__iexact=flow.name.strip()).order_by("pk").first()
            )
            if existing is not None:
                self.created[key] = existing
            else:
                self.created[key] = create_from_template(
                    getattr(flow, "template_key", ""), name=flow.name.strip()
                )
                self._flows = self._by_pk = None  # now there is one more flow to find
        return self.created[key]


def new_flow(name: str, template: str) -> CallFlow:
    """An unsaved flow that stands for the one a save creates."""
    flow = CallFlow(name=name.strip())
    flow.template_key = template
    return flow


class FlowTargetWidget(forms.MultiWidget):
    """A name box (suggesting every flow) and the template a new flow starts from; with
    an "Open" button once it names a flow, which saves this page and opens that one."""

    def __init__(self, attrs=None):
        super().__init__(
            [
                forms.TextInput(
                    attrs={
                        "list": DATALIST_ID,
                        "class": "flow-target-name",
                        "placeholder": "a flow's name, or a new one",
                        "autocomplete": "off",
                    }
                ),
                forms.Select(attrs={"class": "flow-target-template"}),
            ],
            attrs,
        )
        self.directory: FlowDirectory | None = None

    def decompress(self, value):
        if value in (None, ""):
            return ["", ""]
        if isinstance(value, CallFlow):
            label = self.directory.label_of(value) if self.directory else value.name
            return [label, getattr(value, "template_key", "")]
        if self.directory is not None:  # a pk, as a ModelForm's initial gives
            flow = self.directory.by_pk(value)
            if flow is not None:
                return [self.directory.label_of(flow), ""]
        return ["", ""]

    def render(self, name, value, attrs=None, renderer=None):
        self.widgets[1].choices = [
            (key, "new flow: empty" if not key else f"new flow from template: {label}")
            for key, label in template_choices()
        ]
        html = super().render(name, value, attrs, renderer)
        names = value if isinstance(value, list) else self.decompress(value)
        label = (names[0] or "").strip() if names else ""
        existing = None
        if label and self.directory is not None:
            try:
                existing = self.directory.find(label)
            except ValidationError:
                existing = None
        state = "" if not label else ("existing" if existing else "new")
        hint = format_html("new flow: {}, created when you save", label) if state == "new" else ""
        button = format_html(
            '<button type="submit" name="_open" value="{}" class="flow-target-open" '
            'title="Save this page, then open {}"{}>Open</button>',
            label,
            label,
            "" if label else mark_safe(" hidden"),
        )
        return format_html(
            '<span class="flow-target" data-state="{}">{}{}<span class="flow-target-hint">{}</span></span>',
            state,
            html,
            button,
            hint,
        )


class FlowTargetField(forms.MultiValueField):
    """Cleans to an existing CallFlow, an unsaved one (`new_flow`) or None (blank)."""

    widget = FlowTargetWidget

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(
            fields=[
                forms.CharField(max_length=100, required=False),
                forms.ChoiceField(choices=template_choices, required=False),
            ],
            require_all_fields=False,
            **kwargs,
        )
        self.directory: FlowDirectory | None = None

    def use_directory(self, directory: FlowDirectory) -> None:
        self.directory = self.widget.directory = directory

    def compress(self, data_list):
        if not data_list or not (data_list[0] or "").strip():
            return None
        text, template = data_list[0].strip(), data_list[1] or ""
        existing = self.directory.find(text) if self.directory else None
        return existing if existing is not None else new_flow(text, template)

    def has_changed(self, initial, data):
        # The template only matters for a new flow: compare the names.
        initial_name = self.widget.decompress(initial)[0]
        data_name = (data or ["", ""])[0] or ""
        return initial_name.strip() != data_name.strip()


def save_new_targets(instance, field_names, directory: FlowDirectory) -> None:
    """Before `instance` is saved: create the new flows its fields stand for."""
    for name in field_names:
        flow = getattr(instance, name, None)
        if flow is not None and flow.pk is None:
            setattr(instance, name, directory.create(flow))
