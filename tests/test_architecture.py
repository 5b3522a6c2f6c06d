"""No import cycles anywhere in the package, the sandbox included (the layers themselves are import-linter
contracts in pyproject.toml, checked by `lint-imports` in CI)."""

from __future__ import annotations

import grimp


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = grimp.build_graph("cliq_mcp")
    cycles = {
        tuple(sorted((module, imported)))
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    }
    assert cycles == set()
