"""The flow diagram: which flows, edges and numbers it shows, and the SVG Graphviz draws.

The SVG goes into the admin page as it is, so text staff typed must stay text: the hostile
tests below store names, descriptions, option phrases and keys the way an import or a
careless form would (plain ORM, no validation), render the real SVG with the installed
Graphviz program, parse it strictly and check that it holds nothing but drawing elements,
links to our admin and the text exactly as typed.
"""

import xml.etree.ElementTree as ET

import pytest

from telephony.models import CallFlow, MenuOption, Step
from telephony.tools import diagram
from tests.factories import make_flow, make_number

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"

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
        ("main-menu", "voicemail", "no choice"),
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


# --- hostile text ----------------------------------------------------------------------------

XSS = '<x> href="javascript:alert(document.domain)" z=<y>'
HOSTILE = [
    XSS,
    '<<table><tr><td href="javascript:alert(1)">x</td></tr></table>>',  # an HTML-like label
    'x" href="javascript:alert(1)" y="',  # breaking out of DOT's quotes
    '"',
    "\\",
    "ends with a backslash \\",
    'back\\"slash quote',
    "left\\l right\\r newline\\n",
    "node \\N graph \\G",  # Graphviz's escapes for names
    "two\nlines\r\nand\ta tab",
    "&amp; & ]]> <![CDATA[ x ]]>",
    "<script>alert(1)</script>",
    "Caf\u00e9 \u2013 \u00fcn\u00efcode \U0001f4de",
]


def svg_of(flow) -> ET.Element:
    """The real SVG of the flow's diagram, strictly parsed (a malformed one fails the test)."""
    svg = diagram.render_svg(diagram.neighbourhood(flow))
    assert svg is not None, "the diagram was not drawn (or refused by checked_svg)"
    return ET.fromstring(svg)


def assert_harmless(root: ET.Element):
    """Only drawing elements, no event handlers, links only to our admin, no javascript:
    outside text and tooltips (where it is shown, not run)."""
    for element in root.iter():
        assert element.tag.startswith(SVG), element.tag
        assert element.tag.removeprefix(SVG) not in {"script", "foreignObject", "set", "animate"}
        for name, value in element.attrib.items():
            local = name.rpartition("}")[2]
            assert not local.lower().startswith("on"), (name, value)
            if local == "href":
                assert value.startswith("/admin/"), (name, value)
            if name != f"{XLINK}title":
                assert "javascript:" not in value.lower(), (name, value)


def texts(root: ET.Element) -> set[str]:
    return {"".join(t.itertext()) for t in root.iter(f"{SVG}text")}


def tooltips(root: ET.Element) -> set[str]:
    return {a.get(f"{XLINK}title") for a in root.iter(f"{SVG}a")}


def shown(text: str, limit: int = diagram.LABEL_CHARS) -> str:
    """What a label shows for `text`: line breaks and tabs become single spaces, and text
    longer than `limit` is cut, with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


@needs_graphviz
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_shown_as_text(db, text):
    target = make_flow("target", name=text, steps=[{"verb": "hangup"}])
    flow = CallFlow.objects.create(name=text, slug="hostile", description=text)
    Step.objects.create(flow=flow, position=1, verb="gather", input="dtmf speech", text="Hi")
    MenuOption.objects.create(flow=flow, digits="1", phrase=text, target_flow=target)
    MenuOption.objects.create(flow=flow, phrase=f"{text} again", target_flow=target)
    make_number("+14155550111", flow)
    root = svg_of(flow)
    assert_harmless(root)
    labels = texts(root)
    assert {shown(text), "(hostile)", "(target)", "+14155550111", "call"} <= labels
    assert shown(f'press 1 / say "{text}"') in labels
    assert shown(f'say "{text} again"') in labels
    if "\\N" not in text:  # graphviz-pure 0.2.2 still expands \N in tooltips (as text)
        # The description, as the flow box's tooltip.
        assert shown(text, diagram.TOOLTIP_CHARS) in tooltips(root)


@needs_graphviz
def test_the_javascript_link_in_a_description_is_gone(db):
    """The attack we fixed: a tooltip of '<x> href="javascript:..." z=<y>' was passed to
    Graphviz as an HTML-like string, so the DOT source gained an href attribute of its own."""
    flow = make_flow("front", name="Front desk", steps=[{"verb": "hangup"}])
    flow.description = XSS
    flow.save()
    source = diagram.to_dot(diagram.neighbourhood(flow)).source
    assert "tooltip=<" not in source and "label=<" not in source
    root = svg_of(flow)
    assert_harmless(root)
    links = {a.get(f"{XLINK}href") for a in root.iter(f"{SVG}a")}
    assert links == {f"/admin/telephony/callflow/{flow.pk}/change/"}
    assert tooltips(root) == {XSS}


@needs_graphviz
def test_hostile_keys_are_text_too(db):
    """Keys are validated as 0-9 * # in forms, but the diagram must not trust stored data."""
    target = make_flow("target", steps=[{"verb": "hangup"}])
    flow = make_flow("keys", steps=[{"verb": "gather", "text": "Hi"}])
    for digits in ["<b>1</b>", '"\\l&]]>', "1\n2\\"]:  # at most 20 characters
        MenuOption.objects.create(flow=flow, digits=digits, target_flow=target)
    root = svg_of(flow)
    assert_harmless(root)
    assert {"press <b>1</b>", 'press "\\l&]]>', "press 1 2\\"} <= texts(root)


@needs_graphviz
def test_long_text_is_cut_short(db):
    name = "N" * 100  # the longest name the model takes
    flow = make_flow("long", name=name, steps=[{"verb": "gather", "text": "Hi"}])
    flow.description = "word " * 2000
    flow.save()
    MenuOption.objects.create(flow=flow, phrase="p" * 100, target_flow=flow)
    root = svg_of(flow)
    assert_harmless(root)
    labels = texts(root)
    assert "N" * (diagram.LABEL_CHARS - 1) + "\u2026" in labels
    assert 'say "' + "p" * (diagram.LABEL_CHARS - 6) + "\u2026" in labels
    (tooltip,) = tooltips(root)
    assert len(tooltip) == diagram.TOOLTIP_CHARS and tooltip.startswith("word word")


@needs_graphviz
def test_ordinary_text_reads_as_typed(db):
    flow = make_flow("sales-desk", name="Sales & Support (EU)", steps=[{"verb": "hangup"}])
    flow.description = "Rings Anna, then Bob; voicemail after 20 s."
    flow.save()
    root = svg_of(flow)
    assert {"Sales & Support (EU)", "(sales-desk)"} <= texts(root)
    assert tooltips(root) == {"Rings Anna, then Bob; voicemail after 20 s."}


@pytest.mark.parametrize(
    "svg",
    [
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        '<a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><a href="https://evil.example/admin/">x</a></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>x</p></foreignObject></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><a href="/admin/"><set attributeName="href"'
        ' to="javascript:alert(1)"/></a></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><text>unclosed</svg>',
        "<html><body>not svg</body></html>",
    ],
)
def test_checked_svg_refuses_anything_but_a_drawing(db, svg):
    assert diagram.checked_svg(svg) is None


def test_checked_svg_keeps_a_drawing_and_drops_the_prolog(db):
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"\n'
        ' "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<!-- a comment -->\n'
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        '<a xlink:href="/admin/x/" xlink:title="&lt;x&gt;"><text>&amp;</text></a></svg>'
    )
    svg = diagram.checked_svg(document)
    assert svg.startswith("<svg ") and "<!--" not in svg and "DOCTYPE" not in svg
    assert 'xlink:href="/admin/x/"' in svg and 'xlink:title="&lt;x&gt;"' in svg


# --- a release's diagram (drawn from its Snapshot, not the draft's rows) ---------------------


def test_release_graph_is_the_whole_release_as_published(demo):
    from telephony.flows import loading
    from telephony.releases import publishing

    publishing.publish(note="first")
    # Edits after publishing are the draft's: release 1's picture does not move.
    sales = CallFlow.objects.get(slug="sales")
    sales.steps.filter(verb="dial").update(next_flow=None)
    CallFlow.objects.get(slug="text-address").delete()
    graph = diagram.release_graph(loading.snapshot("1"))
    assert graph.center is None
    assert {f.slug for f in graph.flows.values()} == {
        "closed",
        "main-menu",
        "sales",
        "voicemail",
        "text-address",
        "voicemail-thanks",
    }
    assert {
        ("main-menu", "text-address", 'press 3 / say "address"'),
        ("sales", "voicemail", "no answer"),
        ("voicemail", "voicemail-thanks", "after recording"),
    } <= edge_set(graph)
    assert [str(n.number) for n in graph.numbers] == ["+15005550006"]
    # The flow deleted from the draft since has a stand-in key: no admin link to draw.
    gone = next(f for f in graph.flows.values() if f.slug == "text-address")
    assert gone.pk < 0
    source = diagram.to_dot(graph).source
    assert f"/admin/telephony/callflow/{sales.pk}/change/" in source
    assert f"flow{gone.pk} [label" in source.replace('"', "")
    assert "/admin/telephony/callflow/-" not in source


@needs_graphviz
def test_release_diagram_renders_as_checked_svg(demo):
    from telephony.flows import loading
    from telephony.releases import publishing

    publishing.publish(note="first")
    svg = diagram.render_svg(diagram.release_graph(loading.snapshot("1")))
    root = ET.fromstring(svg)
    texts = {"".join(t.itertext()) for t in root.iter(f"{SVG}text")}
    assert {"Main menu", "Text our address", "+15005550006", "after recording"} <= texts
