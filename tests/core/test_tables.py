"""The shared data table: URL state parsing, URL round trips, and one paginated query."""

from urllib.parse import parse_qsl

import pytest
import sqlalchemy as sa
from flask import render_template_string
from werkzeug.datastructures import MultiDict

from portal.companies.models import Company, CompanyKind
from portal.core.db import db
from portal.core.tables import Column, TableState, paginate
from tests.factories import make_company

COLUMNS = (
    Column("name", "Name", sortable=True),
    Column("created", "Created", sortable=True),
    Column("amount", "Amount", numeric=True),
)
FILTERS = ("q", "status")


def parse(query: str, **kwargs) -> TableState:
    args = MultiDict(parse_qsl(query.removeprefix("?"), keep_blank_values=True))
    options = {"columns": COLUMNS, "default_sort": "name", "filters": FILTERS, **kwargs}
    return TableState.from_args(args, **options)


def test_defaults_when_the_url_says_nothing() -> None:
    state = parse("")
    assert (state.sort, state.direction, state.page, state.per_page) == ("name", "asc", 1, 25)
    assert state.filters == {} and state.url_for() == "?"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sort=amount", ("name", "asc", 1, 25)),  # not sortable
        ("sort=%3Bdrop+table", ("name", "asc", 1, 25)),
        ("sort=created&dir=sideways", ("created", "asc", 1, 25)),
        ("dir=desc", ("name", "desc", 1, 25)),
        ("page=abc", ("name", "asc", 1, 25)),
        ("page=-3", ("name", "asc", 1, 25)),
        ("page=0", ("name", "asc", 1, 25)),
        ("page=1e3", ("name", "asc", 1, 25)),
        ("page=%D9%A3", ("name", "asc", 1, 25)),  # an Arabic-Indic 3: int() would take it
        ("page=99999999999999999999", ("name", "asc", 1, 25)),
        ("page=7", ("name", "asc", 7, 25)),
        ("per_page=1", ("name", "asc", 1, 10)),
        ("per_page=100000", ("name", "asc", 1, 100)),
        ("per_page=many", ("name", "asc", 1, 25)),
        ("per_page=50", ("name", "asc", 1, 50)),
    ],
)
def test_garbage_and_out_of_bounds_values_fall_back(query, expected) -> None:
    state = parse(query)
    assert (state.sort, state.direction, state.page, state.per_page) == expected


def test_only_named_filters_are_kept_trimmed_and_bounded() -> None:
    state = parse("q=++tower++&status=&other=x&" + "status=" + "a" * 500)
    assert state.filters["q"] == "tower" and "other" not in state.filters
    assert parse("status=" + "a" * 500).filter("status") == "a" * 200
    assert parse("status=").filter("status") == ""


def test_a_default_sort_must_be_a_sortable_column() -> None:
    with pytest.raises(ValueError, match="sortable"):
        parse("", default_sort="amount")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "q=tower&sort=created&dir=desc&page=3",
        "status=open&per_page=50&page=2",
        "q=a%26b%3Dc&dir=desc",  # values that need quoting survive
        "q=caf%C3%A9+%E2%80%94+t%C3%BCrm",
    ],
)
def test_url_round_trip_keeps_the_whole_state(query) -> None:
    state = parse(query)
    again = parse(state.url_for())
    assert again == state
    assert dict(parse_qsl(state.url_for()[1:])) == dict(parse_qsl(query))


def test_changes_keep_the_rest_and_filters_go_back_to_page_one() -> None:
    state = parse("q=tower&sort=created&dir=desc&page=3")
    assert parse(state.url_for(page=4)) == parse("q=tower&sort=created&dir=desc&page=4")
    # A filter change resets the page, keeps the sort.
    assert parse(state.url_for(status="open")) == parse("q=tower&status=open&sort=created&dir=desc")
    assert parse(state.url_for(q="")).filters == {}
    # Sort links keep the filters; a second click reverses the sorted column.
    assert parse(state.sort_url("name")) == parse("q=tower&sort=name&dir=asc")
    assert parse(state.sort_url("created")) == parse("q=tower&sort=created&dir=asc")
    assert state.aria_sort("created") == "descending" and state.aria_sort("name") is None
    assert state.kept_by_filters() == {"sort": "created", "dir": "desc"}
    assert state.with_filters(q=None, status="paid").filters == {"status": "paid"}


def _companies(n: int, name: str) -> list[int]:
    return [make_company(CompanyKind.PAYOR, name=name).id for _ in range(n)]


@pytest.mark.usefixtures("database")
def test_paginate_counts_once_pages_once_and_breaks_ties_stably() -> None:
    ids = _companies(23, "Same Name")  # every sort value equal: only the tiebreak orders them
    stmt = sa.select(Company).where(Company.id.in_(ids))
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    seen: list[int] = []
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        for page in (1, 2, 3):
            state = parse(f"page={page}&per_page=10")
            table = paginate(
                stmt, state, sort_columns={"name": Company.name, "created": Company.id}
            )
            seen += [c.id for c in table.rows]
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 6, statements  # one COUNT and one page query per page
    assert seen == sorted(ids)  # no row twice, none missing
    assert (table.total, table.page, table.pages, table.first, table.last) == (23, 3, 3, 21, 23)
    assert table.has_previous and not table.has_next


@pytest.mark.usefixtures("database")
def test_paginate_sorts_descending_and_clamps_a_page_past_the_end() -> None:
    ids = _companies(3, "Alpha") + _companies(2, "Bravo")
    stmt = sa.select(Company).where(Company.id.in_(ids))
    table = paginate(
        stmt,
        parse("dir=desc&page=40&per_page=10"),
        sort_columns={"name": Company.name, "created": Company.id},
    )
    assert table.page == 1 and table.state.page == 1
    assert [c.name for c in table.rows] == ["Bravo"] * 2 + ["Alpha"] * 3
    assert [c.id for c in table.rows][:2] == sorted(ids[3:], reverse=True)
    empty = paginate(
        stmt.where(sa.false()),
        parse(""),
        sort_columns={"name": Company.name, "created": Company.id},
    )
    assert (empty.total, empty.pages, empty.first, empty.last, empty.rows) == (0, 1, 0, 0, [])


def test_page_links_keep_first_last_and_a_window() -> None:
    from portal.core.tables import TablePage

    state = parse("")
    page = TablePage(rows=[], total=500, page=10, pages=20, per_page=25, state=state)
    assert page.page_links() == [1, None, 8, 9, 10, 11, 12, None, 20]
    assert TablePage([], 30, 1, 2, 25, state).page_links() == [1, 2]


@pytest.mark.usefixtures("database")
def test_macros_render_an_accessible_sortable_paginated_table(app) -> None:
    ids = _companies(30, "Tower")
    state = parse("q=tow&sort=created&dir=desc&page=2&per_page=10")
    table = paginate(
        sa.select(Company).where(Company.id.in_(ids)),
        state,
        sort_columns={"name": Company.name, "created": Company.id},
    )
    source = """{% from "components/table.html" import data_table %}
    {% call(row) data_table("things", "Things", table, "/things", filter_form_id="f",
                            actions_label="Actions") %}<td>{{ row.name }}</td>{% endcall %}"""
    with app.test_request_context("/things"):
        html = render_template_string(source, table=table)
    assert '<div id="things" class="data-table" hx-target="this"' in html
    assert 'hx-push-url="true"' in html and "style=" not in html
    assert '<caption id="things-caption">Things</caption>' in html
    assert html.count('scope="col"') == 4
    assert 'aria-sort="descending"' in html and html.count("aria-sort") == 1
    assert '<th scope="col" class="numeric">Amount</th>' in html
    assert 'href="/things?q=tow&amp;sort=created&amp;per_page=10"' in html
    assert '<input type="hidden" name="sort" value="created" form="f">' in html
    assert '<nav aria-label="Pagination"' in html and "Showing 11\N{EN DASH}20 of 30" in html
    assert 'aria-current="page"><span class="visually-hidden">Page </span>2</a>' in html
    assert 'rel="prev" href="/things?q=tow&amp;sort=created&amp;dir=desc&amp;per_page=10"' in html
    empty = paginate(
        sa.select(Company).where(sa.false()),
        state,
        sort_columns={"name": Company.name, "created": Company.id},
    )
    source = """{% from "components/table.html" import data_table %}
    {% call(row) data_table("things", "Things", table, "/things", empty_message="No things yet.",
        empty_hint="Things you add appear here.", empty_action_url="/things/new",
        empty_action_label="Add a thing") %}<td></td>{% endcall %}"""
    with app.test_request_context("/things"):
        html = render_template_string(source, table=empty)
    assert '<div id="things"' in html and "<table" not in html
    assert "No things yet." in html and 'href="/things/new">Add a thing</a>' in html
