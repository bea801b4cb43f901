"""The lineage of one run's artifacts, from ML Metadata's executions and events, as a figure.

Layout is computed here (a layered left-to-right DAG: an execution's layer is one more than
the layers of the executions that produced its inputs), so the test can check the graph
itself and the figure is just a drawing of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    columns: dict[int, list[Node]] = {}
    for node in graph.nodes.values():
        columns.setdefault(node.column, []).append(node)
    _place_rows(graph, columns)


def _place_rows(graph: LineageGraph, columns: dict[int, list[Node]]) -> None:
    """Rows centred per column, ordered by the mean row of each node's neighbours to the
    left (a barycentre sweep, repeated), which keeps edges from crossing much."""
    neighbours: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for src, dst, _ in graph.edges:
        neighbours[src].append(dst)
        neighbours[dst].append(src)

    def centre(nodes: list[Node]) -> None:
        for i, node in enumerate(nodes):
            node.row = i - (len(nodes) - 1) / 2

    for nodes in columns.values():
        centre(nodes)
    for _ in range(3):
        for column in sorted(columns):

            def weight(node: Node, column: int = column) -> float:
                rows = [
                    graph.nodes[n].row
                    for n in neighbours[node.key]
                    if graph.nodes[n].column < column
                ]
                return sum(rows) / len(rows) if rows else node.row

            columns[column].sort(key=weight)
            centre(columns[column])


def draw(graph: LineageGraph) -> str:
    """The graph as a PNG data URI: boxes are executions (coloured by state), rounded boxes
    are artifacts (dashed when an earlier run produced them)."""
    columns = max((n.column for n in graph.nodes.values()), default=0) + 1
    rows = max(
        (sum(1 for n in graph.nodes.values() if n.column == c) for c in range(columns)), default=1
    )
    fig = Figure(figsize=(max(6.0, 1.3 * columns), max(2.5, 0.8 * rows + 0.8)))
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
            label = f"{node.label}\n{node.state}"
        else:
            box = dict(
                boxstyle="round,pad=0.35", fc="white", ec="#555555", ls="--" if node.state else "-"
            )
            label = node.label + ("\n(earlier run)" if node.state else "")
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
    for src, dst, kind in graph.edges:
        a, b = texts[src], texts[dst]
        ax.annotate(
            "",
            xy=(0.5, 0.5),
            xycoords=b,
            xytext=(0.5, 0.5),
            textcoords=a,
            arrowprops=dict(
                arrowstyle="-|>",
                color="#444444",
                lw=0.8,
                ls=":" if kind == "resolved" else "-",
                patchA=a.get_bbox_patch(),
                patchB=b.get_bbox_patch(),
                shrinkA=1,
                shrinkB=1,
                mutation_scale=9,
            ),
            zorder=4,
        )
    return to_data_uri(fig)
