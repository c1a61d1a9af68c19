"""The state of a list page (sort, direction, page, filters) read from and written to the URL,
and one paginated query for it. Rendered by the macros in templates/components/table.html.

    COLUMNS = (Column("name", "Name", sortable=True), Column("amount", "Amount", numeric=True))
    state = TableState.from_args(request.args, columns=COLUMNS, default_sort="name",
                                 filters=("q",))
    table = paginate(stmt, state, sort_columns={"name": Project.name})
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.core.db import db

Direction = Literal["asc", "desc"]
MIN_PER_PAGE = 10
MAX_PER_PAGE = 100
# Longer filter values are cut: nothing in a list filter needs more, and URLs stay short.
MAX_FILTER_LENGTH = 200


@dataclass(frozen=True)
class Column:
    """A column header: ``key`` names it in the URL's ``sort`` parameter."""

    key: str
    label: str
    sortable: bool = False
    numeric: bool = False


@dataclass(frozen=True)
class TableState:
    """What the URL says about a list: sort, direction, page, page size and filters."""

    columns: tuple[Column, ...]
    sort: str | None
    direction: Direction
    page: int = 1
    per_page: int = 25
    filters: Mapping[str, str] = field(default_factory=dict)
    # The defaults are kept so that URLs leave them out, and parse back to the same state.
    default_sort: str | None = None
    default_direction: Direction = "asc"
    default_per_page: int = 25

    @classmethod
    def from_args(
        cls,
        args: Mapping[str, str],
        *,
        columns: Sequence[Column],
        default_sort: str | None = None,
        default_direction: Direction = "asc",
        filters: Iterable[str] = (),
        per_page: int = 25,
    ) -> TableState:
        """Read the state from query arguments; anything unknown or malformed is a default."""
        columns = tuple(columns)
        sortable = {c.key for c in columns if c.sortable}
        if default_sort is not None and default_sort not in sortable:
            raise ValueError(f"default sort {default_sort!r} is not a sortable column")
        sort = args.get("sort", "")
        direction = args.get("dir", "")
        return cls(
            columns=columns,
            sort=sort if sort in sortable else default_sort,
            direction=direction if direction in ("asc", "desc") else default_direction,
            page=_positive_int(args.get("page"), default=1),
            per_page=min(
                max(_positive_int(args.get("per_page"), default=per_page), MIN_PER_PAGE),
                MAX_PER_PAGE,
            ),
            filters={
                name: value
                for name in filters
                if (value := (args.get(name) or "").strip()[:MAX_FILTER_LENGTH])
            },
            default_sort=default_sort,
            default_direction=default_direction,
            default_per_page=per_page,
        )

    def filter(self, name: str) -> str:
        """The value of a named filter, or "" when it is not set."""
        return self.filters.get(name, "")

    def with_filters(self, **values: str | None) -> TableState:
        """The same state with these filter values (None or "" clears one), on page 1."""
        filters = dict(self.filters)
        for name, value in values.items():
            if value:
                filters[name] = value
            else:
                filters.pop(name, None)
        return dataclasses.replace(self, filters=filters, page=1)

    def args(self, **changes: Any) -> dict[str, str]:
        """The query arguments of this state with ``changes`` applied, defaults left out.

        Changing a filter, the sort or the page size goes back to page 1: the old page
        number means nothing in the new list.
        """
        known = {"sort", "dir", "page", "per_page"}
        sort = changes.get("sort", self.sort)
        direction = changes.get("dir", self.direction)
        per_page = int(changes.get("per_page", self.per_page))
        filters = dict(self.filters)
        for name, value in changes.items():
            if name not in known:
                if value in (None, ""):
                    filters.pop(name, None)
                else:
                    filters[name] = str(value)
        resets = (
            filters != dict(self.filters)
            or sort != self.sort
            or direction != self.direction
            or per_page != self.per_page
        )
        page = int(changes.get("page", 1 if resets else self.page))
        query: dict[str, str] = dict(sorted(filters.items()))
        if sort is not None and sort != self.default_sort:
            query["sort"] = sort
        if direction != self.default_direction:
            query["dir"] = direction
        if per_page != self.default_per_page:
            query["per_page"] = str(per_page)
        if page != 1:
            query["page"] = str(page)
        return query

    def kept_by_filters(self) -> dict[str, str]:
        """Sort, direction and page size as a filter form must resend them (page is not)."""
        return {k: v for k, v in self.args().items() if k in ("sort", "dir", "per_page")}

    def url_for(self, **changes: Any) -> str:
        """The query string (``?…``, or ``?`` alone) of this state with ``changes`` applied."""
        return "?" + urlencode(self.args(**changes))

    def sort_url(self, key: str) -> str:
        """Sort by ``key``; a second click on the sorted column reverses it."""
        if key == self.sort:
            return self.url_for(dir="desc" if self.direction == "asc" else "asc")
        return self.url_for(sort=key, dir="asc")

    def aria_sort(self, key: str) -> str | None:
        """``aria-sort`` for a column header: only the sorted column carries one."""
        if key != self.sort:
            return None
        return "ascending" if self.direction == "asc" else "descending"


@dataclass(frozen=True)
class TablePage:
    """One page of rows, with what the pagination needs to describe it."""

    rows: list[Any]
    total: int
    page: int
    pages: int
    per_page: int
    state: TableState

    @property
    def first(self) -> int:
        """The number of the first row shown (1-based), 0 when there are none."""
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.page * self.per_page, self.total)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def page_links(self, around: int = 2) -> list[int | None]:
        """Page numbers to link: the first, the last and a window around this one;
        None stands for a gap ("…")."""
        keep = {1, self.pages, *range(self.page - around, self.page + around + 1)}
        numbers = sorted(n for n in keep if 1 <= n <= self.pages)
        links: list[int | None] = []
        for number in numbers:
            if links and number - (links[-1] or 0) > 1:
                links.append(None)
            links.append(number)
        return links


def paginate(
    stmt: sa.Select[Any],
    state: TableState,
    sort_columns: Mapping[str, Any],
    *,
    tiebreak: Any = None,
    session: Session | None = None,
) -> TablePage:
    """Run one COUNT and one page query of ``stmt`` in the state's order.

    ``sort_columns`` maps each sortable column key to its SQL expression. The order ends
    with ``tiebreak`` (default: the primary key of the first selected entity), so rows with
    equal sort values keep their places from page to page.
    """
    session = session if session is not None else db.session
    missing = {c.key for c in state.columns if c.sortable} - set(sort_columns)
    if missing:
        raise ValueError(f"no sort expression for columns {sorted(missing)}")
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    total = total or 0
    page, pages = _page_of(total, state)
    order = []
    descending = state.direction == "desc"
    if state.sort is not None:
        expression = sort_columns[state.sort]
        order.append(expression.desc() if descending else expression.asc())
    for column in _tiebreak_columns(stmt, tiebreak):
        order.append(column.desc() if descending else column.asc())
    result = session.execute(
        stmt.order_by(None)
        .order_by(*order)
        .limit(state.per_page)
        .offset((page - 1) * state.per_page)
    )
    if len(stmt.column_descriptions) == 1:
        rows = list(result.scalars().unique())
    else:
        rows = list(result.all())
    return TablePage(
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        per_page=state.per_page,
        state=dataclasses.replace(state, page=page),
    )


def matches_text(text: str, *columns: Any) -> sa.ColumnElement[bool]:
    """Any of ``columns`` contains ``text``, ignoring case. ``%`` and ``_`` in the text are
    matched as themselves, not as wildcards. An empty text matches every row."""
    needle = text.strip().lower()
    if not needle:
        return sa.true()
    return sa.or_(
        *(sa.func.lower(sa.func.coalesce(c, "")).contains(needle, autoescape=True) for c in columns)
    )


def paginate_rows(rows: Sequence[Any], state: TableState) -> TablePage:
    """One page of rows already in memory, already filtered and sorted."""
    page, pages = _page_of(len(rows), state)
    start = (page - 1) * state.per_page
    return TablePage(
        rows=list(rows[start : start + state.per_page]),
        total=len(rows),
        page=page,
        pages=pages,
        per_page=state.per_page,
        state=dataclasses.replace(state, page=page),
    )


def _page_of(total: int, state: TableState) -> tuple[int, int]:
    """The page to show (a page past the end shows the last) and how many there are."""
    pages = max(1, -(-total // state.per_page))
    return min(state.page, pages), pages


def _tiebreak_columns(stmt: sa.Select[Any], tiebreak: Any) -> list[Any]:
    if tiebreak is not None:
        return list(tiebreak) if isinstance(tiebreak, list | tuple) else [tiebreak]
    entity = stmt.column_descriptions[0].get("entity")
    if entity is None:
        raise ValueError("paginate needs a tiebreak when the first column is not an entity")
    return list(sa.inspect(entity).primary_key)


def _positive_int(value: str | None, *, default: int) -> int:
    # isdecimal() refuses "-1", "1e3", " 2" and Unicode digits int() would accept.
    if not value or not value.isascii() or not value.isdecimal() or len(value) > 9:
        return default
    number = int(value)
    return number if number >= 1 else default
