"""The flow diagram: which flows, edges and numbers it shows, and the SVG Graphviz draws."""

import xml.etree.ElementTree as ET

import pytest

from telephony.models import CallFlow, Step
from telephony.tools import diagram
from tests.factories import make_flow, make_number

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"

needs_graphviz = pytest.mark.skipif(
    diagram.layout_program() is None, reason="no Graphviz program (pip install graphviz-pure)"
)


def edge_set(graph):
    names = {pk: flow.slug for pk, flow in graph.flows.items()}
    return {(names[e.source], names.get(e.target, None), e.label) for e in graph.edges}


def test_demo_neighbourhood(demo, django_assert_max_num_queries):
    flow = CallFlow.objects.get(slug="main-menu")
    with django_assert_max_num_queries(4):
        graph = diagram.neighbourhood(flow)
    assert {"main-menu", "sales", "voicemail", "voicemail-thanks"} <= {
        f.slug for f in graph.flows.values()
    }
    assert {
        ("main-menu", "sales", 'press 1 / say "sales"'),
        ("main-menu", "voicemail", 'press 2 / say "voicemail"'),
        ("main-menu", "main-menu", "redirect"),
        ("sales", "voicemail", "no answer"),
        ("voicemail", "voicemail-thanks", "after recording"),
    } <= edge_set(graph)
    assert [str(n.number) for n in graph.numbers] == ["+15005550006"]


def test_depth_limits_the_picture(db):
    d = make_flow("d", steps=[{"verb": "hangup"}])
    c = make_flow("c", steps=[{"verb": "redirect", "next_flow": d}])
    b = make_flow("b", steps=[{"verb": "redirect", "next_flow": c}])
    a = make_flow("a", steps=[{"verb": "redirect", "next_flow": b}])
    make_number("+14155550111", a)
    graph = diagram.neighbourhood(a, depth=2)
    assert {f.slug for f in graph.flows.values()} == {"a", "b", "c"}
    assert edge_set(graph) == {("a", "b", "redirect"), ("b", "c", "redirect")}
    # Seen from c, two moves back reach a, and its number enters the picture.
    graph = diagram.neighbourhood(c, depth=2)
    assert {f.slug for f in graph.flows.values()} == {"a", "b", "c", "d"}
    assert [str(n.number) for n in graph.numbers] == ["+14155550111"]


def test_dial_outcomes_and_deleted_targets(db):
    yes = make_flow("yes", steps=[{"verb": "hangup"}])
    no = make_flow("no", steps=[{"verb": "hangup"}])
    gone = make_flow("gone")
    flow = make_flow(
        "ring",
        steps=[
            {"verb": "dial", "dial_target": "+14155550100", "next_flow": no, "answered_flow": yes},
            {"verb": "redirect", "next_flow": gone},
        ],
    )
    gone.delete()
    graph = diagram.neighbourhood(flow)
    assert edge_set(graph) == {
        ("ring", "no", "no answer"),
        ("ring", "yes", "answered"),
        ("ring", None, "redirect"),
    }
    assert "ring --redirect--> (deleted flow)" in graph.describe()


@needs_graphviz
def test_render_svg_draws_nodes_edges_and_links(demo):
    flow = CallFlow.objects.get(slug="main-menu")
    svg = diagram.render_svg(diagram.neighbourhood(flow))
    root = ET.fromstring(svg)
    texts = {"".join(t.itertext()) for t in root.iter(f"{SVG}text")}
    assert {"Main menu", "(main-menu)", "Voicemail", "+15005550006", "after recording"} <= texts
    links = {
        a.get("{http://www.w3.org/1999/xlink}href") or a.get("href") for a in root.iter(f"{SVG}a")
    }
    assert f"/admin/telephony/callflow/{flow.pk}/change/" in links


@needs_graphviz
def test_names_are_escaped_in_the_svg(db):
    flow = make_flow("evil", name='<script>alert("x")</script> & co')
    Step.objects.create(flow=flow, position=1, verb="hangup")
    svg = diagram.render_svg(diagram.neighbourhood(flow))
    assert "<script>" not in svg
    texts = {"".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{SVG}text")}
    assert '<script>alert("x")</script> & co' in texts  # shown as text, not markup


def test_render_svg_returns_none_when_the_program_fails(demo):
    graph = diagram.neighbourhood(CallFlow.objects.get(slug="main-menu"))
    assert diagram.render_svg(graph, program="/nonexistent/dot") is None
    assert diagram.render_svg(graph, program="/bin/false") is None


def test_dot_source_is_built_by_the_graphviz_package(demo):
    graph = diagram.neighbourhood(CallFlow.objects.get(slug="main-menu"))
    source = diagram.to_dot(graph).source
    assert source.startswith("digraph flows {")
    assert 'label="press 1 / say \\"sales\\""' in source
