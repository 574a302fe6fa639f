"""Does a SQL statement concern one user only? The checker behind `sql_capture`.

Every table but `users`, `login_failures`, `imported_host_keys` (and Alembic's
`alembic_version`) is keyed by `user_id` first, so the schema can be distributed by user
(Citus): a statement is then routed to one shard when every reference to such a table is
pinned to one user. `judge` parses a statement (sqlglot) and requires, of each reference
to a per-user table in every SELECT, UPDATE or DELETE (and their subqueries and CTEs):

- `<ref>.user_id = <value>` (a placeholder or a literal) among the conjuncts of its
  query's WHERE or of a JOIN's ON (not under OR or NOT, not `IN (...)`), or
- `<ref>.user_id = <other>.user_id` there, where `<other>` is pinned itself: a joined
  table, or a table of the enclosing query (a correlated subquery);

and of each INSERT into one (and COPY), that the `user_id` column is given a value: a
placeholder or literal in every VALUES row, or in INSERT ... SELECT a value or a pinned
`user_id` column of the SELECT; an UPDATE must not change `user_id`. Schema statements
(CREATE, ALTER, DROP, TRUNCATE, ...) on a per-user table span every user. Statements on
other tables only, and transaction control, are not concerned.

What spans users on purpose is listed in `ALLOWED` below, by the function it runs under.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from adapters.sql import tables
from tests.support.sql_text import prepared, split

# Tables keyed by user_id first: all but these.
SHARED_TABLES = frozenset({"users", "login_failures", "imported_host_keys", "alembic_version"})
PER_USER_TABLES = frozenset(t.name for t in tables.metadata.sorted_tables) - SHARED_TABLES
KINDS = frozenset({"select", "insert", "update", "delete", "copy", "schema", "unparsed"})


@dataclass(frozen=True)
class Allowed:
    """Statements that span users on purpose: run under `function` (a frame of their call
    stack, `path:qualname`), of one of `kinds`, leaving only `tables` unpinned."""

    function: str
    kinds: frozenset[str]
    tables: frozenset[str]
    reason: str


ALL = PER_USER_TABLES
ALLOWED: tuple[Allowed, ...] = (
    Allowed("adapters/sql/migrations/env.py:run_migrations_online", KINDS, ALL,
            "Alembic migrations (`ankiserv db upgrade`, before anyone syncs): schema changes"
            " and data migrations of every user at once; on Citus the coordinator"
            " propagates DDL to every shard itself"),
    Allowed("adapters/sql/user_store.py:SqlUserStore.usage", frozenset({"select"}),
            frozenset({"notes", "media_files", "host_keys", "collections"}),
            "`ankiserv user list --details`: the administrator's totals, one GROUP BY"
            " user_id per table (a query of every shard, at the administrator's request)"),
    Allowed("adapters/sql/backup.py:dump", frozenset({"select"}),
            ALL - {"sync_sessions", "sync_staging"},
            "`ankiserv backup`: every backed-up table read whole in one snapshot"),
    Allowed("adapters/sql/backup.py:require_full_syncs", frozenset({"update"}),
            frozenset({"collections"}),
            "`ankiserv restore`: every restored collection asks its devices for a full"
            " sync (one UPDATE of the just-restored database, before it serves)"),
)


@dataclass(frozen=True)
class Verdict:
    """What a statement does to per-user tables: `problems` empty when it concerns at most
    one user; `unpinned` the per-user tables not pinned to one."""

    kind: str
    problems: tuple[str, ...] = ()
    unpinned: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return not self.problems


OK = Verdict("none")


def allowed(kind: str, unpinned: frozenset[str], origin: tuple[str, ...]) -> Allowed | None:
    """The entry of `ALLOWED` covering a bad statement of `kind` that leaves `unpinned`
    tables unpinned, sent under `origin` (the `path:qualname` of each frame)."""
    for entry in ALLOWED:
        if kind in entry.kinds and unpinned <= entry.tables and entry.function in origin:
            return entry
    return None


# -- judging ------------------------------------------------------------------------------

_CONTROL = re.compile(
    r"(?i)(BEGIN|START TRANSACTION|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET|PRAGMA|SHOW|"
    r"DEALLOCATE|DISCARD|ATTACH|DETACH|CLOSE|FETCH|END|RESET|LISTEN|NOTIFY)\b")
_SCHEMA = re.compile(r"(?i)(CREATE|ALTER|DROP|TRUNCATE|RENAME|COMMENT|GRANT|REVOKE|"
                     r"REINDEX|VACUUM|ANALYZE|OPTIMIZE|DESCRIBE|DESC|LOCK)\b")
_SQLGLOT_DIALECT = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql",
                    "sqlite": "sqlite"}
_WORDS = re.compile(r"[A-Za-z_][\w$]*")


def judge(text: str, dialect: str) -> Verdict:
    """Judge a normalised text (`sql_text.normalise`) of `dialect` (SQLAlchemy's name)."""
    return merged([judge_statement(part, dialect) for part in split(text)])


def merged(verdicts: list[Verdict]) -> Verdict:
    bad = [v for v in verdicts if not v.ok]
    if not bad:
        return OK
    return Verdict(bad[0].kind, tuple(p for v in bad for p in v.problems),
                   frozenset().union(*(v.unpinned for v in bad)))


@lru_cache(maxsize=20_000)
def judge_statement(text: str, dialect: str) -> Verdict:
    """Judge one normalised statement (a PREPARE: its body)."""
    return _judge_one(text, dialect)


def _judge_one(text: str, dialect: str) -> Verdict:
    found = prepared(text)
    if found is not None:
        return _judge_one(found[1], dialect)
    named = _named_per_user_tables(text)
    if not named:
        return OK  # the fast way out: no per-user table's name in it at all
    if _CONTROL.match(text):
        return OK
    if dialect == "postgresql":
        text = text.replace("?", "$0")  # sqlglot reads `?::type` as an operator
    try:
        statements = [s for s in sqlglot.parse(text, read=_SQLGLOT_DIALECT.get(dialect, dialect))
                      if s is not None]
    except SqlglotError as e:
        return Verdict("unparsed", (f"could not parse ({e.__class__.__name__}); names"
                                    f" {', '.join(sorted(named))}",), named)
    if len(statements) != 1:
        return Verdict("unparsed", ("not one statement",), named)
    statement = statements[0]
    if isinstance(statement, exp.Copy):
        return _judge_copy(statement)
    if isinstance(statement, exp.Query | exp.Insert | exp.Update | exp.Delete):
        return _Judge().statement(statement)
    if isinstance(statement, exp.Command) and not _SCHEMA.match(text):
        return Verdict("unparsed", (f"an unknown statement naming {', '.join(sorted(named))}",),
                       named)
    touched = frozenset(t.name for t in statement.find_all(exp.Table) if _per_user(t)) or named
    return Verdict("schema", (f"a schema statement on {', '.join(sorted(touched))}",), touched)


def _named_per_user_tables(text: str) -> frozenset[str]:
    words = {w.lower() for w in _WORDS.findall(text)}
    words |= {w.strip('"`').lower() for w in re.findall(r'"[^"]*"|`[^`]*`', text)}
    return frozenset(words & PER_USER_TABLES)


def _judge_copy(statement: exp.Copy) -> Verdict:
    target = statement.this
    table = target.this if isinstance(target, exp.Schema) else target
    if not isinstance(table, exp.Table) or not _per_user(table):
        return OK
    columns = _insert_columns(target, table)
    if "user_id" in columns:
        return Verdict("copy")  # every row names its user: routed row by row
    return Verdict("copy", (f"COPY into {table.name} without user_id",), frozenset({table.name}))


def _per_user(table: exp.Table) -> bool:
    # Another schema is not ours (SQLite's attached upload file: ankiserv_upload.notes).
    return table.name.lower() in PER_USER_TABLES and table.db.lower() in ("", "main", "public")


def _insert_columns(target: exp.Expr, table: exp.Table) -> list[str]:
    if isinstance(target, exp.Schema) and target.expressions:
        return [c.name.lower() for c in target.expressions]
    return [c.name for c in tables.metadata.tables[table.name.lower()].columns]


_BLOCKS = (exp.Select, exp.Update, exp.Delete, exp.Insert)


def _unwrap(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren | exp.Alias | exp.Cast | exp.TryCast):
        node = node.this
    return node


def _is_value(node: exp.Expr) -> bool:
    node = _unwrap(node)
    if isinstance(node, exp.Neg):
        node = _unwrap(node.this)
    return isinstance(node, exp.Placeholder | exp.Parameter) or (
        isinstance(node, exp.Literal) and not isinstance(node, exp.Null))


def _conjuncts(node: exp.Expr | None) -> Iterator[exp.Expr]:
    if node is None:
        return
    node = node.unnest() if isinstance(node, exp.Paren) else node
    if isinstance(node, exp.And):
        yield from _conjuncts(node.this)
        yield from _conjuncts(node.expression)
    else:
        yield node


@dataclass
class _Scan:
    """What belongs to one query block, not to the blocks nested in it."""

    tables: list[exp.Table]
    derived: list[str]  # aliases of derived tables (subqueries) and functions
    conditions: list[exp.Expr]
    nested: list[exp.Expr]
    ctes: list[str]


def _scan(block: exp.Expr, skip: set[int]) -> _Scan:
    found = _Scan([], [], [], [], [])

    def walk(node: exp.Expr) -> None:
        for child in node.iter_expressions():
            if id(child) in skip:
                continue
            if isinstance(child, _BLOCKS):
                found.nested.append(child)
                continue
            if isinstance(child, exp.Table):
                found.tables.append(child)
            elif isinstance(child, exp.Subquery | exp.Unnest | exp.Values) and child.alias:
                found.derived.append(child.alias.lower())
            elif isinstance(child, exp.CTE):
                found.ctes.append(child.alias.lower())
            elif isinstance(child, exp.Where):
                found.conditions.extend(_conjuncts(child.this))
            elif isinstance(child, exp.Join):
                found.conditions.extend(_conjuncts(child.args.get("on")))
            walk(child)

    walk(block)
    return found


class _Judge:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.unpinned: set[str] = set()

    def statement(self, statement: exp.Expr) -> Verdict:
        kinds: dict[type, str] = {exp.Insert: "insert", exp.Update: "update",
                                  exp.Delete: "delete"}
        kind = kinds.get(type(statement), "select")
        if isinstance(statement, _BLOCKS):
            self.block(statement, {}, frozenset())
        else:  # a UNION at the top
            for block in _scan(statement, set()).nested:
                self.block(block, {}, frozenset())
        if not self.problems:
            return Verdict(kind)
        return Verdict(kind, tuple(self.problems), frozenset(self.unpinned))

    def block(self, block: exp.Expr, outer: Mapping[str, bool],
              ctes: frozenset[str]) -> _Pins:
        """Check one query block (and, through `nested`, those inside it); return which
        of its sources are pinned to one user. `outer`: the enclosing blocks' sources."""
        skip: set[int] = set()
        if isinstance(block, exp.Insert):
            skip.add(id(block.this))
            if block.expression is not None:
                skip.add(id(block.expression))
        scan = _scan(block, skip)
        ctes = ctes | set(scan.ctes)
        sources = {t.alias_or_name.lower(): t for t in scan.tables
                   if not (t.name.lower() in ctes and not t.db)}
        pinned = dict.fromkeys([*scan.derived, *sources], False)
        edges: list[tuple[str, str]] = []
        for condition in scan.conditions:
            self._equality(condition, sources, outer, pinned, edges)
        _propagate(pinned, edges, outer)
        for alias, table in sources.items():
            if _per_user(table) and not pinned[alias]:
                name = table.name.lower()
                shown = name if alias == name else f"{name} AS {alias}"
                self._unpinned(name, f"{shown}: no user_id = <one value> (nor a join on"
                                     " user_id to a table that has one)")
        if isinstance(block, exp.Update):
            self._update(block)
        inner = {**outer, **pinned}
        for nested in scan.nested:
            self.block(nested, inner, ctes)
        if isinstance(block, exp.Insert):
            self._insert(block, inner, ctes)
        return _Pins(sources, pinned)

    def _update(self, update: exp.Update) -> None:
        """A row's user_id never changes (Citus could not move it to another shard)."""
        target = update.this
        if not isinstance(target, exp.Table) or not _per_user(target):
            return
        for assignment in update.expressions:
            column = assignment.this if isinstance(assignment, exp.EQ) else None
            if isinstance(column, exp.Column) and column.name.lower() == "user_id":
                name = target.name.lower()
                self._unpinned(name, f"UPDATE of {name} changes user_id")

    def _equality(self, condition: exp.Expr, sources: Mapping[str, exp.Table],
                  outer: Mapping[str, bool], pinned: dict[str, bool],
                  edges: list[tuple[str, str]]) -> None:
        if not isinstance(condition, exp.EQ):
            return
        left, right = _unwrap(condition.this), _unwrap(condition.expression)
        a, b = _user_id_of(left, sources, outer), _user_id_of(right, sources, outer)
        if a is not None and b is not None:
            edges.append((a, b))
        elif a is not None and _is_value(right) and a in pinned:
            pinned[a] = True
        elif b is not None and _is_value(left) and b in pinned:
            pinned[b] = True

    def _insert(self, insert: exp.Insert, outer: Mapping[str, bool],
                ctes: frozenset[str]) -> None:
        target, source = insert.this, insert.expression
        table = target.this if isinstance(target, exp.Schema) else target
        selects = [] if source is None or isinstance(source, exp.Values) else [
            (select, self.block(select, outer, ctes)) for select in _selects(source)]
        if not isinstance(table, exp.Table) or not _per_user(table):
            return
        name = table.name.lower()
        columns = _insert_columns(target, table)
        if "user_id" not in columns:
            self._unpinned(name, f"INSERT into {name} without user_id")
            return
        at = columns.index("user_id")
        if isinstance(source, exp.Values):
            for row in source.expressions:
                values = row.expressions if isinstance(row, exp.Tuple) else [row]
                if at >= len(values) or not _is_value(values[at]):
                    self._unpinned(name, f"INSERT into {name}: a row's user_id is no value")
                    return
            return
        if not selects:
            self._unpinned(name, f"INSERT into {name} from something unknown")
        for select, pins in selects:
            projections = select.expressions
            value = _unwrap(projections[at]) if at < len(projections) else None
            if value is not None and _is_value(value):
                continue
            owner = None if value is None else _user_id_of(value, pins.sources, outer)
            if owner is None or not (pins.pinned.get(owner) or outer.get(owner)):
                self._unpinned(name, f"INSERT into {name} ... SELECT: user_id is not one"
                                     " value")

    def _unpinned(self, name: str, problem: str) -> None:
        self.unpinned.add(name)
        self.problems.append(problem)


def _propagate(pinned: dict[str, bool], edges: list[tuple[str, str]],
               outer: Mapping[str, bool]) -> None:
    """Pin the sources joined on user_id to a pinned one (here or in an enclosing block)."""
    changed = True
    while changed:
        changed = False
        for a, b in edges:
            for x, y in ((a, b), (b, a)):
                if pinned.get(x) is False and (pinned.get(y) or (
                        y not in pinned and outer.get(y))):
                    pinned[x] = changed = True


@dataclass
class _Pins:
    sources: Mapping[str, exp.Table]
    pinned: Mapping[str, bool]


def _selects(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Select):
        return [node]
    if isinstance(node, exp.Subquery):
        return _selects(node.this)
    if isinstance(node, exp.SetOperation):
        return _selects(node.this) + _selects(node.expression)
    return []


def _user_id_of(node: exp.Expr, sources: Mapping[str, exp.Table],
                outer: Mapping[str, bool]) -> str | None:
    """The alias of the source whose user_id `node` is, if it is one."""
    if not isinstance(node, exp.Column) or node.name.lower() != "user_id":
        return None
    qualifier = node.table.lower()
    if qualifier:
        return qualifier if qualifier in sources or qualifier in outer else None
    return next(iter(sources)) if len(sources) == 1 else None
