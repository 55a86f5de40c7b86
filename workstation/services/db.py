"""Engine and session factory, shared by the web app, the workers and the scheduler."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ClauseElement, Connection, create_engine, event
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, configure_mappers, make_transient_to_detached, sessionmaker

T = TypeVar("T")


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
            # WAL lets readers run beside the one writer; the busy timeout makes writers
            # from several processes (web, workers, scheduler) wait for each other.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # No pre-ping: it costs a round trip per checkout on every message. A connection dropped by
    # a database restart fails its one unit of work, which is retried (request or message).
    return create_engine(database_url, pool_size=10, max_overflow=20, pool_recycle=1800)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def lock_for_write(session: Session) -> None:
    """Start the transaction as a writer on SQLite, so what it reads stays true until it commits.

    SQLite has one writer at a time; a deferred transaction that reads and then writes fails if
    another process wrote in between. PostgreSQL needs nothing here: callers lock the rows they
    decide on with ``SELECT ... FOR UPDATE``.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def detached_as_loaded(model: type[T], **columns: Any) -> T:
    """An instance of ``model`` as the ORM makes one from a row it loads (the values written
    straight into its ``__dict__``, no attribute events), then detached: a third of the cost of
    the constructor, which records each value as a change, so that a row read or written without
    the ORM (on the driver, for speed) can still be handed on as a model. Columns not given are
    expired (loaded on first access, once in a session). The constructor also configures the
    mappers on first use, which this must do too: in a new process it can come first (a no-op
    after that)."""
    configure_mappers()
    instance = model.__mapper__.class_manager.new_instance()  # type: ignore[attr-defined]
    instance.__dict__.update(columns)
    make_transient_to_detached(instance)
    return instance


@dataclass(frozen=True)
class DriverStatement:
    """A Core statement compiled once for PostgreSQL's driver (psycopg): its text and what
    SQLAlchemy does to its parameters on the way (the constants the statement carries, the
    types' bind processors, e.g. JSON), so that running it costs what psycopg costs. Through
    a SQLAlchemy ``Connection`` the same execution cost about twice as much."""

    text: str
    constants: dict[str, Any]
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]

    @classmethod
    def compile(cls, statement: ClauseElement) -> DriverStatement:
        dialect = postgresql_psycopg.dialect()
        compiled = statement.compile(dialect=dialect)
        constants, processors = {}, {}
        for bind, name in compiled.bind_names.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if not bind.required:  # a value the statement carries: processed once, here
                constants[name] = process(bind.effective_value) if process else bind.effective_value
            elif process is not None:
                processors[name] = process
        return cls(compiled.string, constants, tuple(processors.items()))

    def execute(self, connection: Connection, values: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of the statement run with ``values`` (every parameter it names that is
        not a constant: one missing is a KeyError) on ``connection``'s psycopg connection."""
        parameters = {**self.constants, **values}
        for name, process in self.processors:
            parameters[name] = process(parameters[name])
        return connection.connection.driver_connection.execute(self.text, parameters).fetchone()
