"""The layering of DESIGN.md "The engine spine", checked on the source: webapp > services > engine
(runtime, executors) > engine.core > models. No module imports a layer above its own (executors act
through services, so the engine's upper half may import services), no import cycle between modules,
and a project import inside a function only with a comment on that line saying why."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("webapp", "services", "engine", "models", "seeds")
LEVELS = {"webapp": 4, "services": 3, "engine": 2, "engine.core": 1, "models": 0, "seeds": 0}


def _layer(module: str) -> str:
    return "engine.core" if module == "engine.core" or module.startswith("engine.core.") else module.split(".")[0]


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def _imports(path: Path):
    """(imported module, line number, inside a function) for each project import of the file."""
    tree = ast.parse(path.read_text(encoding="utf8"))
    in_function = {id(node) for function in ast.walk(tree) if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for node in ast.walk(function)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                yield name, node.lineno, id(node) in in_function


def _resolve(name: str, modules: dict) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _graph():
    modules = _modules()
    graph, upward, hidden = {}, [], []
    for module, path in modules.items():
        lines = path.read_text(encoding="utf8").splitlines()
        for name, line, in_function in _imports(path):
            target = _resolve(name, modules)
            if target is None or target == module:
                continue
            if target != name.rpartition(".")[0] or name in modules:  # `from a import b`: b a module, or a name of a
                graph.setdefault(module, set()).add(target)
            mine, theirs = LEVELS[_layer(module)], LEVELS[_layer(target)]
            if theirs > mine and not (_layer(module) == "engine" and _layer(target) == "services"):
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
            if in_function and "#" not in lines[line - 1]:
                hidden.append(f"{path.relative_to(ROOT)}:{line} imports inside a function")
    return graph, sorted(set(upward)), sorted(set(hidden))


def _cycles(graph: dict) -> list[list[str]]:
    cycles, state = [], {}

    def visit(module, stack):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    return cycles


def test_no_module_imports_a_layer_above_its_own():
    _, upward, _ = _graph()
    assert upward == []


def test_no_import_cycle_between_modules():
    graph, _, _ = _graph()
    assert _cycles(graph) == []


def test_imports_inside_functions_say_why():
    _, _, hidden = _graph()
    assert hidden == []


def test_the_check_sees_a_cycle_and_an_upward_import():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert LEVELS[_layer("engine.core.runs")] < LEVELS[_layer("engine.runtime.runner")] < LEVELS[_layer("services.x")]
