"""A picture of the call graph, drawn by Graphviz as SVG: around one flow of the draft
(`neighbourhood()`, on the flow's page), or the whole of a release (`release_graph()`,
on the release's page, drawn from its Snapshot: what callers of that release meet).

Nodes are flows (the flow itself highlighted, inactive ones dashed and grey, deleted
targets red) and the phone numbers that answer with them; edges are the ways a caller
moves: menu options ("press 1 / say sales"), Dial outcomes ("no answer", "answered"),
"after recording", "left queue" and Redirects. Around a flow we show the flows within two
moves of it, in either direction, so a big graph stays readable. Boxes link to the flow's
page in the admin (the draft's row with the same slug; a flow since deleted has no link).

The DOT source is built with the `graphviz` package (it owns quoting) and laid out by a
Graphviz `dot` program: `graphviz-pure` (a self-contained port installed from PyPI with
requirements.txt) if present, else a system `dot`. Without either, `render_svg()` returns
None and the admin shows the edges as a list instead.

Everything staff type (names, slugs, descriptions, option keys and phrases) is shown as
plain text, never read as markup: the SVG goes into the admin page as it is, so a label
Graphviz took for an HTML-like label (any text that starts with "<" and ends with ">")
could carry its own attributes, e.g. a javascript: link. So every label and tooltip passes
through `_text()` (`graphviz.escape()`: not HTML, backslashes literal), and `render_svg()`
parses what Graphviz drew and refuses it unless it holds only drawing elements and links
to our admin (`checked_svg()`): a second line of defence, should a Graphviz port escape
differently from the reference implementation.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field

import graphviz
from django.urls import reverse

from telephony.flows.fixtures import Snapshot, stored_pk
from telephony.models import CallFlow, MenuOption, PhoneNumber, Step

logger = logging.getLogger(__name__)

DEPTH = 2
RENDER_TIMEOUT_SECONDS = 10
# Longer text is cut (with an ellipsis): boxes stay readable, the page stays light.
LABEL_CHARS = 60
TOOLTIP_CHARS = 300

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
# What Graphviz's SVG renderer writes for boxes, arrows, text and links. Anything else
# (script, foreignObject, animate/set, which can rewrite a link, use, image...) is refused.
SVG_ELEMENTS = {
    "svg", "g", "title", "a", "path", "polygon", "polyline", "ellipse", "text",
    "defs", "linearGradient", "radialGradient", "stop",
}  # fmt: skip
# Serialise with the prefixes a browser's HTML parser knows (xlink:href), not ns0:.
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)
# Control characters are not allowed in XML (and a newline would break a label in two);
# lone surrogates and U+FFFE/U+FFFF are not characters at all.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Edge:
    source: int
    target: int | None  # None: the target flow was deleted
    label: str


@dataclass
class Neighbourhood:
    center: CallFlow | None  # None: a whole release, no flow highlighted
    flows: dict[int, CallFlow] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    numbers: list[PhoneNumber] = field(default_factory=list)

    def describe(self) -> list[str]:
        """The same graph as text lines (when no Graphviz is installed)."""
        lines = [
            f"{number.number} answers with {self._name(number.call_flow_id)}"
            for number in self.numbers
        ]
        lines += [
            f"{self._name(edge.source)} --{edge.label}--> {self._name(edge.target)}"
            for edge in self.edges
        ]
        return lines

    def _name(self, pk):
        return self.flows[pk].slug if pk in self.flows else "(deleted flow)"


def _text(*lines: str, limit: int = LABEL_CHARS) -> str:
    r"""Our lines as one Graphviz label or tooltip, each shown exactly as typed.

    `graphviz.escape()` marks the string as no HTML-like label (the `graphviz` package then
    quotes it, escaping double quotes) and doubles backslashes, so "\l", "\N" and a final
    backslash stay text instead of being Graphviz escape sequences. Graphviz also decodes
    HTML entities in every label ("&amp;" would show as "&"), so "&" goes in as "&amp;".
    Line breaks, tabs and other control characters become spaces; the lines are joined by
    Graphviz's centred line break "\n".
    """
    cleaned = []
    for line in lines:
        line = " ".join(_UNPRINTABLE.sub(" ", str(line)).split())
        if len(line) > limit:
            line = line[: limit - 1].rstrip() + "\u2026"
        cleaned.append(graphviz.escape(line.replace("&", "&amp;")))
    return graphviz.nohtml("\\n".join(cleaned))


def _option_label(option: MenuOption) -> str:
    parts = []
    if option.digits:
        parts.append(f"press {option.digits}")
    if option.phrase.strip():
        parts.append(f'say "{option.phrase.strip()}"')
    return " / ".join(parts)


def _step_edges(step: Step) -> list[Edge]:
    labels = {
        Step.Verb.REDIRECT: [("redirect", step.next_flow_id)],
        Step.Verb.DIAL: [("no answer", step.next_flow_id), ("answered", step.answered_flow_id)],
        Step.Verb.RECORD: [("after recording", step.next_flow_id)],
        Step.Verb.ENQUEUE: [("left queue", step.next_flow_id)],
        Step.Verb.HOURS: [("open", step.open_flow_id), ("closed", step.next_flow_id)],
        Step.Verb.GATHER: [("no choice", step.give_up_flow_id)],
        Step.Verb.CONFERENCE: [("after the conference", step.next_flow_id)],
    }.get(step.verb, [])
    edges = [Edge(step.flow_id, target, label) for label, target in labels if target]
    if step.verb == Step.Verb.REDIRECT and not step.next_flow_id and not step.url:
        edges.append(Edge(step.flow_id, None, "redirect"))
    return edges


def _edges(options, steps) -> list[Edge]:
    edges = [Edge(o.flow_id, o.target_flow_id, _option_label(o)) for o in options]
    for step in steps:
        edges += _step_edges(step)
    return edges


def neighbourhood(flow: CallFlow, depth: int = DEPTH) -> Neighbourhood:
    """The flows of the draft within `depth` moves of `flow` and the numbers entering
    them. Four queries."""
    flows = {f.pk: f for f in CallFlow.objects.all()}
    all_edges = _edges(
        MenuOption.objects.order_by("flow_id", "digits", "phrase"),
        Step.objects.exclude(verb__in=[Step.Verb.SAY, Step.Verb.PLAY, Step.Verb.PAUSE]).order_by(
            "flow_id", "position"
        ),
    )
    around = defaultdict(set)
    for edge in all_edges:
        if edge.target is not None:
            around[edge.source].add(edge.target)
            around[edge.target].add(edge.source)
    included, frontier = {flow.pk}, {flow.pk}
    for _ in range(depth):
        frontier = {n for pk in frontier for n in around[pk]} - included
        included |= frontier
    result = Neighbourhood(center=flow, flows={pk: flows[pk] for pk in included if pk in flows})
    result.edges = [
        edge
        for edge in all_edges
        if edge.source in included and (edge.target is None or edge.target in included)
    ]
    result.numbers = list(PhoneNumber.objects.filter(call_flow_id__in=included).order_by("number"))
    return result


def release_graph(snapshot: Snapshot) -> Neighbourhood:
    """Every flow of a release (a Snapshot, e.g. `loading.snapshot("7")`), its edges and
    the numbers answering with its flows. No query: the snapshot is in memory.

    Objects of a snapshot carry the primary key of the draft row with the same natural
    key, or a negative stand-in (flows/fixtures.py), unique in the snapshot: good node ids
    either way."""
    loaded = sorted(snapshot.flows.values(), key=lambda each: each.slug)
    result = Neighbourhood(center=None, flows={each.flow.pk: each.flow for each in loaded})
    result.edges = _edges(
        [option for each in loaded for option in each.options],
        [step for each in loaded for step in each.steps],
    )
    result.numbers = [
        phone
        for _, phone in sorted(snapshot.numbers.items())
        if phone.call_flow is not None and phone.call_flow_id in result.flows
    ]
    return result


def to_dot(graph: Neighbourhood) -> graphviz.Digraph:
    dot = graphviz.Digraph(
        "flows",
        graph_attr={"rankdir": "LR", "bgcolor": "transparent", "fontname": "Helvetica"},
        node_attr={"shape": "box", "style": "rounded", "fontname": "Helvetica", "fontsize": "12"},
        edge_attr={"fontname": "Helvetica", "fontsize": "10"},
    )
    for pk, flow in graph.flows.items():
        attrs = {"tooltip": _text(flow.description or flow.name, limit=TOOLTIP_CHARS)}
        if stored_pk(flow):
            attrs["href"] = reverse("admin:telephony_callflow_change", args=[pk])
        if graph.center is not None and pk == graph.center.pk:
            attrs.update(style="rounded,filled,bold", fillcolor="#ffe8a3")
        if not flow.is_active:
            attrs.update(style="rounded,dashed", color="grey50", fontcolor="grey40")
        lines = [flow.name, f"({flow.slug})"] + ([] if flow.is_active else ["inactive"])
        dot.node(f"flow{pk}", _text(*lines), **attrs)
    for number in graph.numbers:
        attrs = {}
        if stored_pk(number):
            attrs["href"] = reverse("admin:telephony_phonenumber_change", args=[number.pk])
        dot.node(
            f"number{number.pk}",
            _text(str(number.number)),
            shape="cds",
            style="filled",
            fillcolor="#dbeafe",
            **attrs,
        )
        dot.edge(f"number{number.pk}", f"flow{number.call_flow_id}", label="call")
    missing = 0
    for edge in graph.edges:
        target = f"flow{edge.target}"
        attrs = {"style": "dashed"} if edge.label == "redirect" else {}
        if edge.target is None:
            missing += 1
            target = f"missing{missing}"
            dot.node(target, "deleted flow", color="red", fontcolor="red")
            attrs["color"] = "red"
        dot.edge(f"flow{edge.source}", target, label=_text(edge.label), **attrs)
    return dot


def layout_program() -> str | None:
    """The Graphviz program to run: graphviz-pure beside this Python, on PATH, or dot."""
    scripts = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    for name in ("graphviz-pure", "dot"):
        for folder in scripts:
            candidate = os.path.join(folder, name)
            if os.access(candidate, os.X_OK):
                return candidate
        found = shutil.which(name)
        if found:
            return found
    return None


def render_svg(graph: Neighbourhood, program: str | None = None) -> str | None:
    """The diagram as an inline <svg> element, or None when it cannot be drawn here."""
    program = program or layout_program()
    if program is None:
        return None
    try:
        result = subprocess.run(
            [program, "-Tsvg"],
            input=to_dot(graph).source.encode(),
            capture_output=True,
            timeout=RENDER_TIMEOUT_SECONDS,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as error:
        logger.warning("Cannot draw the flow diagram with %s: %s", program, error)
        return None
    return checked_svg(result.stdout.decode("utf-8", "replace"))


def checked_svg(document: str) -> str | None:
    """The <svg> element of Graphviz's output, re-serialised, if it is safe to put in a page.

    Safe: well-formed XML holding only drawing elements (SVG_ELEMENTS), no event handler
    attributes (on*), and links only to our admin. Re-serialising what was checked drops
    the XML prolog, doctype and comments, so the page gets exactly what was checked.
    None (and a warning) otherwise: the admin then shows the graph as a list.
    """
    admin_root = reverse("admin:index")
    try:
        root = ET.fromstring(document)
    except ET.ParseError as error:
        logger.warning("The flow diagram is not well-formed SVG: %s", error)
        return None
    for element in root.iter():
        namespace, _, name = element.tag.rpartition("}")
        if namespace != "{" + SVG_NS or name not in SVG_ELEMENTS:
            logger.warning("The flow diagram holds a <%s> element; not shown.", name)
            return None
        for attribute, value in element.attrib.items():
            local = attribute.rpartition("}")[2].lower()
            if local.startswith("on") or (local == "href" and not value.startswith(admin_root)):
                logger.warning("The flow diagram has %s=%r; not shown.", local, value[:80])
                return None
    return ET.tostring(root, encoding="unicode")
