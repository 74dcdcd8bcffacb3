"""What plpgsql and SQL function bodies do with a converted key, read from their parse trees.

pg_depend does not track what a plpgsql body reads, and a body is checked only when it runs:
after migrate, a function that compares a converted key with an integer fails then. Each
function that function_bodies.sql returns is parsed with PostgreSQL's own grammar (pglast:
``parse_plpgsql`` for plpgsql, ``parse_sql`` for SQL bodies) and its trees are walked; a
function whose trees name no converted table (and that no trigger on one calls) is left alone.
The result is plain facts (``FunctionUse``: "compares public.users.id with the constant 1");
plan/functions.py decides what they block. Nothing here reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pglast import ast, enums, parse_plpgsql, parse_sql
from pglast.parser import ParseError, scan

from orchestrator.catalog.facts import FunctionUse
from orchestrator.names import qualname, quote_part

_INTEGER_NAMES = {"int2", "int4", "int8", "smallint", "integer", "bigint", "int"}
_COMPARISONS = {"=", "<>", "!=", "<", ">", "<=", ">="}
_ARITHMETIC = {"+", "-", "*", "/", "%"}
#: plpgsql expression parse modes (PostgreSQL's RawParseMode): 0 a statement, 2 an expression,
#: 3..5 an assignment ``target := expression``.
_STATEMENT, _EXPRESSION = 0, 2


@dataclass
class _Scope:
    """What one function's names mean: the converted columns, the trigger tables behind NEW and
    OLD, its integer parameters and variables, and its variables declared %TYPE of a key."""

    converted: dict[tuple[str, str], set[str]]
    trigger_tables: list[tuple[str, str]]
    integers: dict[str, str] = field(default_factory=dict)  # name -> "integer parameter p"
    key_vars: dict[str, str] = field(default_factory=dict)  # name -> key shown
    param_numbers: dict[int, str] = field(default_factory=dict)  # $n -> "integer parameter p"
    mentioned: bool = False
    found: list[tuple[str, bool]] = field(default_factory=list)

    def add(self, finding: str, strong: bool = True) -> None:
        if (finding, strong) not in self.found:
            self.found.append((finding, strong))


def function_uses(rows: list[dict], converted: dict[tuple[str, str], set[str]]) -> list[FunctionUse]:
    """The findings of every function in ``rows`` (function_bodies.sql) over ``converted``
    ((schema, table) -> its converted columns), in the rows' order."""
    out: list[FunctionUse] = []
    for row in rows:
        scope = _Scope(converted, [tuple(t) for t in row["trigger_tables"] if tuple(t) in converted])
        scope.mentioned = bool(scope.trigger_tables)
        try:
            if row["language"] == "plpgsql":
                _plpgsql(row["definition"], scope)
            else:
                _sql_function(row["definition"], scope)
        except ParseError:
            continue
        if scope.mentioned:
            # A key-typed variable is evidence only beside integers it could be mixed with.
            kept = [(f, strong) for f, strong in scope.found if strong or scope.integers]
            out += [FunctionUse(row["signature"], finding, strong) for finding, strong in kept]
    return out


def _parameters(stmt: ast.CreateFunctionStmt, scope: _Scope) -> None:
    for number, p in enumerate(stmt.parameters or (), start=1):
        names = [s.sval for s in p.argType.names]
        if names[-1] in _INTEGER_NAMES and p.name:
            shown = f"integer parameter {p.name}"
            scope.integers[p.name] = shown
            scope.param_numbers[number] = shown


def _sql_function(definition: str, scope: _Scope) -> None:
    stmt = parse_sql(definition)[0].stmt
    _parameters(stmt, scope)
    if stmt.sql_body:
        bodies = [s for part in stmt.sql_body for s in (part if isinstance(part, tuple) else (part,))]
    else:
        source = next(o.arg for o in stmt.options if o.defname == "as")
        bodies = [s.stmt for s in parse_sql(source[0].sval)]
    for body in bodies:
        if body is not None:
            _statement(body, scope)


def _plpgsql(definition: str, scope: _Scope) -> None:
    _parameters(parse_sql(definition)[0].stmt, scope)
    tree = parse_plpgsql(definition)[0]["PLpgSQL_function"]
    datums = tree.get("datums", [])
    names = []
    for datum in datums:
        var = datum.get("PLpgSQL_var")
        names.append(_datum_name(datum, datums))
        if var is None or "promise" in var or var["refname"] in scope.integers:
            continue  # a record, an implicit trigger variable (tg_nargs), or a parameter
        typname = var.get("datatype", {}).get("PLpgSQL_type", {}).get("typname", "")
        if typname in _INTEGER_NAMES:
            scope.integers[var["refname"]] = f"integer variable {var['refname']}"
        elif typname.lower().endswith("%type"):
            _percent_type(var["refname"], typname, scope)
    for query, mode, targets in _expressions(tree.get("action", {}), names):
        _expression(query, mode, targets, scope)


def _datum_name(datum: dict, datums: list):
    """A variable's name, or (record, field) for a field of a record (NEW.id); None otherwise."""
    var = datum.get("PLpgSQL_var")
    if var is not None:
        return var["refname"]
    field_ = datum.get("PLpgSQL_recfield")
    if field_ is None:
        return None
    parent = field_.get("recparentno", 0)
    record = datums[parent].get("PLpgSQL_rec", {}).get("refname") if 0 <= parent < len(datums) else None
    return (record, field_.get("fieldname")) if record else None


def _percent_type(name: str, typname: str, scope: _Scope) -> None:
    """A variable declared ``[schema.]table.column%TYPE`` of a converted column."""
    parts = _type_reference(typname)
    if len(parts) < 2:
        return
    for table in _tables_named(parts[-2], parts[-3] if len(parts) > 2 else None, scope):
        if parts[-1] in scope.converted[table]:
            shown = f"{qualname(*table)}.{quote_part(parts[-1])}"
            scope.mentioned = True
            scope.key_vars[name] = f"variable {name} ({shown}%TYPE)"
            scope.add(f"declares variable {name} as {shown}%TYPE, which becomes uuid", strong=False)


def _type_reference(typname: str) -> list[str]:
    """The names of ``a.b.c%TYPE`` as PostgreSQL's scanner reads them (quoted names kept as
    written, others folded to lower case); [] for anything else."""
    raw = typname.encode()
    try:
        tokens = scan(typname)
    except ParseError:
        return []
    if [t.name for t in tokens[-2:]] != ["ASCII_37", "TYPE_P"]:
        return []
    names = []
    for i, token in enumerate(tokens[:-2]):
        text = raw[token.start : token.end + 1].decode()
        if i % 2 == 1:
            if token.name != "ASCII_46":
                return []
        elif text.startswith('"'):
            names.append(text[1:-1].replace('""', '"'))
        elif token.name == "ASCII_46":
            return []
        else:
            names.append(text.lower())
    return names


def _expressions(node, names: list, targets: tuple = ()):
    """Every (query, parse mode, variables it assigns in order) in a plpgsql tree: ``x := ...``
    assigns x, ``SELECT ... INTO a, b`` assigns a and b."""
    if isinstance(node, list):
        for item in node:
            yield from _expressions(item, names)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "PLpgSQL_expr":
                yield value.get("query", ""), value.get("parseMode", _STATEMENT), targets
            elif key == "PLpgSQL_stmt_assign":
                varno = value.get("varno", -1)
                assigned = names[varno] if 0 <= varno < len(names) else None
                yield from _expressions(value.get("expr"), names, (assigned,))
            elif key == "PLpgSQL_stmt_execsql" and value.get("into"):
                yield from _expressions(value.get("sqlstmt"), names, _into(value.get("target", {})))
            else:
                yield from _expressions(value, names)


def _into(target: dict) -> tuple:
    """The variables ``INTO`` fills, in order (a record target fills none by name)."""
    row = target.get("PLpgSQL_row")
    if row is not None:
        return tuple(f.get("name") for f in row.get("fields", []))
    var = target.get("PLpgSQL_var")
    return (var.get("refname"),) if var else ()


def _expression(query: str, mode: int, targets: tuple, scope: _Scope) -> None:
    """One plpgsql expression or statement; an assignment is read from its right-hand side."""
    if mode == _STATEMENT:
        text = query
    else:
        if mode != _EXPRESSION:
            query = _right_hand_side(query)
        text = f"SELECT {query}"
    try:
        stmts = parse_sql(text)
    except ParseError:
        return
    for raw in stmts:
        _statement(raw.stmt, scope)
        items = getattr(raw.stmt, "targetList", None) or ()
        for item, target in zip(items, targets):
            _assigned(item.val, target, raw.stmt, scope)


def _assigned(value, target, stmt, scope: _Scope) -> None:
    """What an assignment or INTO does with a key: the key into an integer variable, or an
    integer into a key field of NEW or OLD."""
    if isinstance(target, tuple):
        record, column = target
        tables = [t for t in scope.trigger_tables if column in scope.converted[t]] if record in ("new", "old") else []
        number = _integer(value, scope) if tables else None
        if number is not None:
            scope.add(f"assigns {number} to {record.upper()}.{quote_part(column)} ({_shown(tables[0], column)})")
    elif target in scope.integers:
        key = _key(value, scope, _ranges(stmt, scope))
        if key is not None:
            scope.add(f"stores {key} in {scope.integers[target]}")


def _right_hand_side(query: str) -> str:
    """``target := expression`` (or ``=``): the expression, cut after the first such token."""
    raw = query.encode()
    for token in scan(query):
        if token.name in ("COLON_EQUALS", "ASCII_61"):
            return raw[token.end + 1 :].decode()
    return query


def _tables_named(name: str, schema: str | None, scope: _Scope) -> list[tuple[str, str]]:
    return [t for t in scope.converted if t[1] == name and (schema is None or t[0] == schema)]


def _ranges(stmt, scope: _Scope) -> dict[str, tuple[str, str] | None]:
    """The relations a statement reads, by the name or alias it gives them: the converted table
    it names, or None for any other relation (a column name alone is then no evidence)."""
    found: dict[str, tuple[str, str] | None] = {}
    for node in _walk(stmt):
        if isinstance(node, ast.RangeVar):
            tables = _tables_named(node.relname, node.schemaname, scope)
            found[node.alias.aliasname if node.alias else node.relname] = tables[0] if len(tables) == 1 else None
    return found


def _statement(stmt, scope: _Scope) -> None:
    ranges = _ranges(stmt, scope)
    if any(ranges.values()):
        scope.mentioned = True
    for node in _walk(stmt):
        if isinstance(node, ast.A_Expr):
            _operator(node, scope, ranges)
        elif isinstance(node, ast.TypeCast):
            key = _key(node.arg, scope, ranges)
            if key is not None and node.typeName.names[-1].sval in _INTEGER_NAMES:
                scope.add(f"casts {key} to an integer")


def _operator(node: ast.A_Expr, scope: _Scope, ranges: dict) -> None:
    op = node.name[-1].sval if node.name else ""
    left, right = _key(node.lexpr, scope, ranges), None
    listed = (enums.A_Expr_Kind.AEXPR_IN, enums.A_Expr_Kind.AEXPR_BETWEEN, enums.A_Expr_Kind.AEXPR_NOT_BETWEEN)
    if node.kind in listed and left is not None and isinstance(node.rexpr, tuple):
        constants = [_integer(v, scope) for v in node.rexpr]
        shown = [c for c in constants if c is not None]
        if shown:
            scope.add(f"compares {left} with {', '.join(shown)}")
        return
    if node.kind != enums.A_Expr_Kind.AEXPR_OP:
        return
    right = _key(node.rexpr, scope, ranges) if not isinstance(node.rexpr, tuple) else None
    if op in _ARITHMETIC and (left or right):
        scope.add(f"does arithmetic on {left or right} ({op})")
    elif op in _COMPARISONS:
        for key, other in ((left, node.rexpr), (right, node.lexpr)):
            value = _integer(other, scope) if key is not None else None
            if value is not None:
                scope.add(f"compares {key} with {value}")


def _integer(node, scope: _Scope) -> str | None:
    """How an integer operand is shown: a constant, an integer parameter or variable."""
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.Integer):
        return f"the constant {node.val.ival}"
    if isinstance(node, ast.ParamRef):
        return scope.param_numbers.get(node.number)
    if isinstance(node, ast.ColumnRef) and all(isinstance(f, ast.String) for f in node.fields):
        return scope.integers.get(node.fields[-1].sval) if len(node.fields) <= 2 else None
    return None


def _key(node, scope: _Scope, ranges: dict) -> str | None:
    """The converted key a column reference names, as shown; None when it names none."""
    if not isinstance(node, ast.ColumnRef) or not all(isinstance(f, ast.String) for f in node.fields):
        return None
    parts = [f.sval for f in node.fields]
    column = parts[-1]
    if len(parts) == 1:
        if column in scope.key_vars:
            return scope.key_vars[column]
        if None in ranges.values():
            return None
        tables = [t for t in set(ranges.values()) if column in scope.converted[t]]
    elif len(parts) == 2 and parts[0] in ("new", "old") and parts[0] not in ranges:
        tables = [t for t in scope.trigger_tables if column in scope.converted[t]]
        return f"{parts[0].upper()}.{quote_part(column)} ({_shown(tables[0], column)})" if tables else None
    elif len(parts) == 2:
        table = ranges.get(parts[0])
        tables = [table] if table is not None and column in scope.converted[table] else []
    else:
        tables = [t for t in _tables_named(parts[-2], parts[-3], scope) if column in scope.converted[t]]
    return _shown(tables[0], column) if len(tables) == 1 else None


def _shown(table: tuple[str, str], column: str) -> str:
    return f"{qualname(*table)}.{quote_part(column)}"


def _walk(node):
    """Every node of a parse tree, depth first."""
    if isinstance(node, tuple):
        for item in node:
            yield from _walk(item)
    elif isinstance(node, ast.Node):
        yield node
        for name in type(node).__slots__:
            value = getattr(node, name, None)
            if isinstance(value, (tuple, ast.Node)):
                yield from _walk(value)
