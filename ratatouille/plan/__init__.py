"""Plan: the lineage DAG of a project's transforms, selection and run order."""

from __future__ import annotations

import graphlib
from typing import Iterable, Mapping, Sequence

from .._names import not_found, parse_table_name
from ..errors import CycleError
from ..check._lineage import test_inputs
from ..transforms import Transform


class DAG:
    """Dependencies between transforms (edges input -> transform).

    ``external`` names tables that exist in the lake without a transform
    (they may be read, never built).

    >>> from ratatouille.transforms import SQLTransform
    >>> a = SQLTransform.from_text("silver.a", "SELECT * FROM bronze.x")
    >>> b = SQLTransform.from_text("gold.b", "SELECT * FROM silver.a")
    >>> DAG({"silver.a": a, "gold.b": b}, external={"bronze.x"}).order(["gold.b"], upstream=True)
    ['silver.a', 'gold.b']
    """

    def __init__(self, transforms: Mapping[str, Transform], *, external: Iterable[str] = ()) -> None:
        self.transforms = dict(transforms)
        self.external = set(external)
        self.upstream: dict[str, list[str]] = {}
        self.downstream: dict[str, list[str]] = {n: [] for n in self.transforms}
        for name, t in self.transforms.items():
            deps = []
            for dep in dict.fromkeys((*t.inputs, *test_inputs(t))):  # a test's other table is built first
                if dep in self.transforms and dep not in deps:
                    deps.append(dep)
                    self.downstream[dep].append(name)
            self.upstream[name] = deps
        self._check_cycles()

    def _check_cycles(self) -> None:
        sorter = graphlib.TopologicalSorter(self.upstream)
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            cycle = exc.args[1]
            first = self.transforms[cycle[0]]
            raise CycleError(f"dependency cycle: {' -> '.join(reversed(cycle))}", transform=first.name,
                             file=first.file) from None

    def ancestors(self, name: str) -> set[str]:
        return self._walk(name, self.upstream)

    def descendants(self, name: str) -> set[str]:
        return self._walk(name, self.downstream)

    @staticmethod
    def _walk(name: str, edges: Mapping[str, Sequence[str]]) -> set[str]:
        seen: set[str] = set()
        stack = list(edges.get(name, ()))
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(edges.get(n, ()))
        return seen

    def select(self, selectors: Iterable[str], *, upstream: bool = False, downstream: bool = False) -> set[str]:
        """Names chosen by selectors: ``name``, ``+name`` (with upstream), ``name+`` (with downstream)."""
        chosen: set[str] = set()
        for raw in selectors:
            sel = raw.strip()
            up = upstream or sel.startswith("+")
            down = downstream or sel.endswith("+")
            name = sel.strip("+")
            if name not in self.transforms:
                parse_table_name(name)
                raise not_found(name, self.transforms, what="transform")
            chosen.add(name)
            if up:
                chosen |= self.ancestors(name)
            if down:
                chosen |= self.descendants(name)
        return chosen

    def order(self, selectors: Iterable[str] | None = None, *, upstream: bool = False,
              downstream: bool = False) -> list[str]:
        """Selected transforms in a topological order (all when ``selectors`` is None)."""
        chosen = set(self.transforms) if selectors is None else self.select(selectors, upstream=upstream,
                                                                             downstream=downstream)
        sorter = graphlib.TopologicalSorter({n: [d for d in self.upstream[n] if d in chosen] for n in chosen})
        out: list[str] = []
        sorter.prepare()
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            out.extend(ready)
            sorter.done(*ready)
        return out

    def edges(self) -> list[tuple[str, str]]:
        return [(dep, name) for name, deps in self.upstream.items() for dep in deps]
