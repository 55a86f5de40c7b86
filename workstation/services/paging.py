"""One page of a listing and how many rows it has in all: every paged page and API uses this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import LoaderOption

#: The highest page number a listing answers: a larger one would reach the database as an offset
#: it cannot take (a 500 once, for ``?page=99999999999999999999``).
MAX_PAGE = 100_000


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    total: int
    number: int
    size: int
    #: There are more rows than ``total`` (counting stopped there: ``page_of``'s ``cap``).
    more: bool = False

    @property
    def pages(self) -> int:
        return max((self.total + self.size - 1) // self.size, 1)

    def context(self, rows_name: str) -> dict[str, Any]:
        """What a paged template reads: the rows under ``rows_name``, and the pager's figures."""
        return {rows_name: self.rows, "total": self.total, "page": self.number, "pages": self.pages, "more": self.more}


def page_number(asked: str | None) -> int | None:
    """``?page=`` as a number from 1 to ``MAX_PAGE``, or None when it is not one. (Digits only,
    and few: ``int()`` of thousands of digits is an error of its own.)"""
    asked = asked or "1"
    if not (asked.isascii() and asked.isdigit() and len(asked) <= len(str(MAX_PAGE))):
        return None
    number = int(asked)
    return number if 1 <= number <= MAX_PAGE else None


def page_of(
    session: Session, query: Select, number: int, size: int, *options: LoaderOption, cap: int | None = None
) -> Page:
    """Page ``number`` (clamped to 1..MAX_PAGE) of ``query``, which is already in its order;
    ``options`` (eager loads) apply to the rows, not to the count. ``cap``: the rows are counted
    only up to ``cap`` past this page's first (``Page.more`` beyond): a search's count of every
    case a common word finds took seconds."""
    number = min(max(number, 1), MAX_PAGE)
    counted, most = query.order_by(None), None
    if cap is not None:
        most = (number - 1) * size + cap
        counted = counted.limit(most + 1)
    total = session.scalar(select(func.count()).select_from(counted.subquery())) or 0
    rows = session.scalars(query.options(*options).offset((number - 1) * size).limit(size)).unique().all()
    more = most is not None and total > most
    return Page(list(rows), most if more else total, number, size, more)
