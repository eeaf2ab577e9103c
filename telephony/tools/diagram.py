"""A picture of the call graph around one flow, drawn by Graphviz as SVG.

Nodes are flows (the flow itself highlighted, inactive ones dashed and grey, deleted
targets red) and the phone numbers that answer with them; edges are the ways a caller
moves: menu options ("press 1 / say sales"), Dial outcomes ("no answer", "answered"),
"after recording", "left queue" and Redirects. We show the flows within two moves of
the flow, in either direction, so a big graph stays readable.

The DOT source is built with the `graphviz` package (it owns quoting) and laid out by a
Graphviz `dot` program: `graphviz-pure` (a self-contained port installed from PyPI with
requirements.txt) if present, else a system `dot`. Without either, `render_svg()` returns
None and the admin shows the edges as a list instead.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections import defaultdict
from dataclasses import dataclass, field

import graphviz
from django.urls import reverse

from telephony.models import CallFlow, MenuOption, PhoneNumber, Step

logger = logging.getLogger(__name__)

DEPTH = 2
RENDER_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Edge:
    source: int
    target: int | None  # None: the target flow was deleted
    label: str


@dataclass
class Neighbourhood:
    center: CallFlow
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
    }.get(step.verb, [])
    edges = [Edge(step.flow_id, target, label) for label, target in labels if target]
    if step.verb == Step.Verb.REDIRECT and not step.next_flow_id and not step.url:
        edges.append(Edge(step.flow_id, None, "redirect"))
    return edges


def neighbourhood(flow: CallFlow, depth: int = DEPTH) -> Neighbourhood:
    """The flows within `depth` moves of `flow` and the numbers entering them. Four queries."""
    flows = {f.pk: f for f in CallFlow.objects.all()}
    all_edges = [
        Edge(o.flow_id, o.target_flow_id, _option_label(o))
        for o in MenuOption.objects.order_by("flow_id", "digits", "phrase")
    ]
    for step in Step.objects.exclude(
        verb__in=[Step.Verb.SAY, Step.Verb.PLAY, Step.Verb.PAUSE, Step.Verb.GATHER]
    ).order_by("flow_id", "position"):
        all_edges += _step_edges(step)
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


def to_dot(graph: Neighbourhood) -> graphviz.Digraph:
    dot = graphviz.Digraph(
        "flows",
        graph_attr={"rankdir": "LR", "bgcolor": "transparent", "fontname": "Helvetica"},
        node_attr={"shape": "box", "style": "rounded", "fontname": "Helvetica", "fontsize": "12"},
        edge_attr={"fontname": "Helvetica", "fontsize": "10"},
    )
    for pk, flow in graph.flows.items():
        attrs = {
            "href": reverse("admin:telephony_callflow_change", args=[pk]),
            "tooltip": flow.description or flow.name,
        }
        if pk == graph.center.pk:
            attrs.update(style="rounded,filled,bold", fillcolor="#ffe8a3")
        if not flow.is_active:
            attrs.update(style="rounded,dashed", color="grey50", fontcolor="grey40")
        dot.node(
            f"flow{pk}",
            f"{flow.name}\n({flow.slug})" + ("" if flow.is_active else "\ninactive"),
            **attrs,
        )
    for number in graph.numbers:
        dot.node(
            f"number{number.pk}",
            str(number.number),
            shape="cds",
            style="filled",
            fillcolor="#dbeafe",
            href=reverse("admin:telephony_phonenumber_change", args=[number.pk]),
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
        dot.edge(f"flow{edge.source}", target, label=edge.label, **attrs)
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
    svg = result.stdout.decode("utf-8", "replace")
    start = svg.find("<svg")
    if start < 0:
        return None
    # Drop the XML prolog and comments; keep the picture, sized by its viewBox.
    return re.sub(r"<!--.*?-->", "", svg[start:], flags=re.S)
