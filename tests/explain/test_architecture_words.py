"""Shared explain modules name no architecture: each architecture's words (captions, glossary terms, papers) live in
its own folder (explain/<arch>/) and reach shared code through its explainer, so a new architecture edits no shared
file to be explained. Comments and docstrings may name one (they say why); code and the text it shows may not."""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

from sr_core.models import ARCHITECTURES
from tests.hub_standin import REPO_ROOT

# module -> (how many names it may keep, why)
EXCEPTIONS = {
    "explain/cli.py": (1, "the train-featsharp command, a CLI contract, runs the RCAN explainer's own trainer"),
}


def docstring_starts(tree: ast.Module) -> set[tuple[int, int]]:
    """Where each module, class and function docstring starts."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
                found.add((first.lineno, first.col_offset))
    return found


def names_in_code(source: str, names: re.Pattern) -> list[str]:
    """`line: token` for every code token (strings included, comments and docstrings not) naming an architecture."""
    docstrings = docstring_starts(ast.parse(source))
    return [f"{token.start[0]}: {token.string[:60]}" for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type != tokenize.COMMENT and not (token.type == tokenize.STRING and token.start in docstrings)
            for _ in names.findall(token.string)]


def architecture_names() -> re.Pattern:
    return re.compile(r"\b(" + "|".join(re.escape(a.name) for a in ARCHITECTURES) + r")\b", re.I)


def test_the_counter_sees_code_and_skips_comments_and_docstrings() -> None:
    names = architecture_names()
    source = '"""RCAN is fine here."""\nLABEL = "RCAN trained on JPEGs"  # and SAFMN here\nkey = "safmn"\n'
    assert names_in_code(source, names) == ['2: "RCAN trained on JPEGs"', '3: "safmn"']


def test_shared_explain_modules_name_no_architecture() -> None:
    names = architecture_names()
    found = {}
    for path in sorted((REPO_ROOT / "explain").glob("*.py")):
        module = str(path.relative_to(REPO_ROOT))
        hits = names_in_code(path.read_text(encoding="utf-8"), names)
        if len(hits) != EXCEPTIONS.get(module, (0, ""))[0]:
            found[module] = hits
    assert not found, f"architecture names in shared code (move them to explain/<arch>/): {found}"
