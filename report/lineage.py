"""The lineage of one run's artifacts, from ML Metadata's executions and events, as a figure.

Layout is computed here (a layered left-to-right DAG: an execution's layer is one more than
the layers of the executions that produced its inputs), so the test can check the graph
itself and the figure is just a drawing of it. An edge that spans several columns gets a
free slot (a bend) in every column it crosses, ordered with the nodes, as in Sugiyama's
layered drawing: edges run between columns and through bends, never through a label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipeline.summary import RunSummary
from report.plots import to_data_uri

STATE_COLORS = {
    "COMPLETE": "#c7e9c0",
    "CACHED": "#c6dbef",
    "FAILED": "#fcbba1",
    "RUNNING": "#fee391",
    "CANCELED": "#d9d9d9",
}


@dataclass
class Node:
    key: str  # "e<id>" for executions, "a<id>" for artifacts
    label: str
    kind: str  # "execution" or "artifact"
    state: str = ""  # executions: their state; artifacts: "" or "earlier run"
    column: int = 0
    row: float = 0.0


@dataclass
class LineageGraph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, "io"|"resolved")
    # edges[i]'s (column, row) bends, one per column strictly between its ends (in travel order)
    bends: list[list[tuple[int, float]]] = field(default_factory=list)

    def route(self, index: int) -> list[tuple[float, float]]:
        """Edge ``index`` as (column, row) points: its source, bends and destination."""
        src, dst, _ = self.edges[index]
        ends = [self.nodes[src], self.nodes[dst]]
        return [
            (ends[0].column, ends[0].row),
            *self.bends[index],
            (ends[1].column, ends[1].row),
        ]


def build_graph(summary: RunSummary) -> LineageGraph:
    """Executions and the artifacts they read and wrote; artifacts no execution of this run
    produced (e.g. the baseline model, reused from an earlier run) are marked as such."""
    graph = LineageGraph()
    producer: dict[int, int] = {}
    for execution in summary.executions:
        for ids in execution.outputs.values():
            for artifact_id in ids:
                if "Resolver" not in execution.type:
                    producer.setdefault(artifact_id, execution.id)
    for execution in summary.executions:
        graph.nodes[f"e{execution.id}"] = Node(
            f"e{execution.id}", execution.node, "execution", execution.state
        )
    for execution in summary.executions:
        # A Resolver only looks artifacts up (its consumers record their own INPUT events),
        # so everything it touched is drawn as read by it, dotted.
        resolver = "Resolver" in execution.type
        for ids in execution.inputs.values():
            for artifact_id in ids:
                _artifact_node(graph, summary, artifact_id, producer)
                graph.edges.append(
                    (f"a{artifact_id}", f"e{execution.id}", "resolved" if resolver else "io")
                )
        for ids in execution.outputs.values():
            for artifact_id in ids:
                _artifact_node(graph, summary, artifact_id, producer)
                if resolver:
                    graph.edges.append((f"a{artifact_id}", f"e{execution.id}", "resolved"))
                elif producer.get(artifact_id) == execution.id:
                    graph.edges.append((f"e{execution.id}", f"a{artifact_id}", "io"))
    _layout(graph, producer)
    return graph


def _artifact_node(
    graph: LineageGraph, summary: RunSummary, artifact_id: int, producer: dict[int, int]
) -> None:
    key = f"a{artifact_id}"
    if key in graph.nodes:
        return
    record = summary.artifact_records.get(artifact_id)
    label = f"{record.type if record else 'Artifact'} #{artifact_id}"
    graph.nodes[key] = Node(
        key, label, "artifact", "" if artifact_id in producer else "earlier run"
    )


def _layout(graph: LineageGraph, producer: dict[int, int]) -> None:
    """Executions on even columns by longest path, each artifact one column right of its
    producer (or one left of its first consumer when an earlier run made it)."""
    inputs: dict[str, list[str]] = {}
    for src, dst, _kind in graph.edges:
        if dst.startswith("e"):
            inputs.setdefault(dst, []).append(src)
    layer: dict[str, int] = {}

    def execution_layer(key: str, seen: frozenset[str] = frozenset()) -> int:
        if key in layer:
            return layer[key]
        if key in seen:  # a cycle cannot happen in MLMD lineage; stay safe anyway
            return 0
        parents = [
            f"e{producer[int(a[1:])]}"
            for a in inputs.get(key, [])
            if int(a[1:]) in producer and f"e{producer[int(a[1:])]}" != key
        ]
        layer[key] = 1 + max((execution_layer(p, seen | {key}) for p in parents), default=-1)
        return layer[key]

    for key, node in graph.nodes.items():
        if node.kind == "execution":
            node.column = 2 * execution_layer(key)
    for key, node in graph.nodes.items():
        if node.kind != "artifact":
            continue
        made_by = producer.get(int(key[1:]))
        if made_by is not None and f"e{made_by}" in graph.nodes:
            node.column = graph.nodes[f"e{made_by}"].column + 1
        else:
            consumers = [graph.nodes[d].column for s, d, _ in graph.edges if s == key]
            node.column = max(0, min(consumers, default=1) - 1)
    # Bends: a slot node per crossed column, chained, so the ordering keeps them free.
    everything = dict(graph.nodes)
    chains: list[list[str]] = []
    for index, (src, dst, _kind) in enumerate(graph.edges):
        a, b = graph.nodes[src].column, graph.nodes[dst].column
        step = 1 if b > a else -1
        chain = []
        for column in range(a + step, b, step):
            key = f"b{index}.{column}"
            everything[key] = Node(key, "", "bend", column=column)
            chain.append(key)
        chains.append(chain)
    columns: dict[int, list[Node]] = {}
    for node in everything.values():
        columns.setdefault(node.column, []).append(node)
    links = [
        pair
        for (src, dst, _kind), chain in zip(graph.edges, chains, strict=True)
        for pair in zip([src, *chain], [*chain, dst], strict=True)
    ]
    _place_rows(everything, links, columns)
    graph.bends = [[(everything[k].column, everything[k].row) for k in chain] for chain in chains]


def _place_rows(
    nodes: dict[str, Node], links: list[tuple[str, str]], columns: dict[int, list[Node]]
) -> None:
    """Rows centred per column, ordered by the mean row of each node's neighbours to the
    left (a barycentre sweep, repeated), which keeps edges from crossing much."""
    neighbours: dict[str, list[str]] = {k: [] for k in nodes}
    for src, dst in links:
        neighbours[src].append(dst)
        neighbours[dst].append(src)

    def centre(nodes: list[Node]) -> None:
        for i, node in enumerate(nodes):
            node.row = i - (len(nodes) - 1) / 2

    for column_nodes in columns.values():
        centre(column_nodes)
    for _ in range(3):
        for column in sorted(columns):

            def weight(node: Node, column: int = column) -> float:
                rows = [nodes[n].row for n in neighbours[node.key] if nodes[n].column < column]
                return sum(rows) / len(rows) if rows else node.row

            columns[column].sort(key=weight)
            centre(columns[column])


LABEL_WIDTH = 18  # characters per label line: keeps every box inside its column
COLUMN_INCHES = 1.7
ROW_INCHES = 0.8


def wrap_label(text: str, width: int = LABEL_WIDTH) -> str:
    """Long component names broken at '_' or before capitals, so boxes stay narrow."""
    lines: list[str] = []
    for word in text.split("\n"):
        parts = re.findall(r"[^_A-Z]*_|[A-Z]?[^_A-Z]*", word)
        line = ""
        for part in (p for p in parts if p):
            if line and len(line) + len(part) > width:
                lines.append(line)
                line = ""
            line += part
        lines.append(line)
    return "\n".join(lines)


def _path(points: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    """(column, row) points -> drawing coordinates: horizontal inside each column (through a
    node's own box or a free bend slot), diagonal only in the gaps between columns."""
    out = [(float(points[0][0]), -points[0][1])]
    for (c0, r0), (c1, r1) in pairwise(points):
        step = gap if c1 > c0 else -gap
        out += [(c0 + step, -r0), (c1 - step, -r1), (float(c1), -r1)]
    return out


def draw(graph: LineageGraph) -> str:
    """The graph as a PNG data URI: boxes are executions (coloured by state), rounded boxes
    are artifacts (dashed when an earlier run produced them). Edges leave and enter boxes
    horizontally and bend only between columns or in their own free slots."""
    columns = max((n.column for n in graph.nodes.values()), default=0) + 1
    slots = [(n.column, n.row) for n in graph.nodes.values()]
    slots += [bend for bends in graph.bends for bend in bends]
    rows = max((sum(1 for c, _ in slots if c == column) for column in range(columns)), default=1)
    fig = Figure(figsize=(max(6.0, COLUMN_INCHES * columns), max(2.5, ROW_INCHES * rows + 0.8)))
    ax = fig.subplots()
    ax.set_xlim(-0.7, columns - 0.3)
    ax.set_ylim(-(rows + 1) / 2, (rows + 1) / 2)
    ax.axis("off")
    texts = {}
    for key, node in graph.nodes.items():
        if node.kind == "execution":
            box = dict(
                boxstyle="square,pad=0.4", fc=STATE_COLORS.get(node.state, "white"), ec="black"
            )
            label = f"{wrap_label(node.label)}\n{node.state}"
        else:
            box = dict(
                boxstyle="round,pad=0.35", fc="white", ec="#555555", ls="--" if node.state else "-"
            )
            label = wrap_label(node.label) + ("\n(earlier run)" if node.state else "")
        texts[key] = ax.text(
            node.column,
            -node.row,
            label,
            ha="center",
            va="center",
            fontsize=7.5,
            bbox=box,
            zorder=3,
        )
    half_widths = _half_widths(fig, ax, texts)
    gap = min(0.49, max(half_widths.values(), default=0.0) + 0.03)
    for index, (_src, dst, kind) in enumerate(graph.edges):
        path = _path(graph.route(index), gap)
        style = ":" if kind == "resolved" else "-"
        xs, ys = zip(*path[:-1], strict=True)
        ax.plot(xs, ys, color="#444444", lw=0.8, ls=style, zorder=2)
        (x_from, y), (x_centre, _) = path[-2], path[-1]
        side = half_widths[dst] if x_from > x_centre else -half_widths[dst]
        ax.annotate(
            "",
            xy=(x_centre + side, y),
            xytext=(x_from, y),
            arrowprops=dict(
                arrowstyle="-|>", color="#444444", lw=0.8, shrinkA=0, shrinkB=0, mutation_scale=9
            ),
            zorder=4,
        )
    return to_data_uri(fig)


def _half_widths(fig: Figure, ax, texts: dict) -> dict[str, float]:
    """Half of each box's width in data units: where edges enter it, and how wide the gap
    between columns must leave the diagonal segments."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()  # sizes the label boxes (they are fitted at draw time)
    out = {}
    for key, text in texts.items():
        extent = text.get_bbox_patch().get_window_extent(renderer)
        (x0, _), (x1, _) = ax.transData.inverted().transform([extent.p0, extent.p1])
        out[key] = abs(x1 - x0) / 2
    return out
