"""Engine and session factory, shared by the web app, the workers and the scheduler."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import RawCursor
from sqlalchemy import ClauseElement, Connection, create_engine, event, exc
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, configure_mappers, make_transient_to_detached, sessionmaker
from sqlalchemy.sql import sqltypes

T = TypeVar("T")


#: What the database's being out of reach (down, restarting, failing over, only a read-only
#: standby answering, every pooled connection busy) or too busy (a lock timeout, a serialization
#: failure) raises: the work was not done and may be tried again in a moment. SQLAlchemy's
#: OperationalError wraps the driver's; the driver's own comes from statements run on the driver
#: (``DriverStatement``, the token look-up); TimeoutError is the pool's.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (exc.OperationalError, exc.TimeoutError, psycopg.OperationalError)


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database could not do the work now (``DATABASE_UNAVAILABLE``),
    or a connection it used was closed under it, rather than a fault in the work itself."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, DATABASE_UNAVAILABLE)


def engine_url(database_url: str) -> str:
    """``database_url`` as SQLAlchemy reads it. libpq's multi-host form,
    ``postgresql+psycopg://user@host1:5432,host2:5432/db?target_session_attrs=read-write``
    (a primary and its standbys: libpq tries them in turn and keeps the first that takes writes),
    is not a URL SQLAlchemy can parse (its port is not a number): it becomes the ``?host=host:port``
    query form, which SQLAlchemy hands to libpq as the same ``host=a,b port=p,q``."""
    scheme, separator, rest = database_url.partition("://")
    authority, slash, path = rest.partition("/")
    credentials, at, hosts = authority.rpartition("@")
    if not separator or "," not in hosts:
        return database_url
    database, question, query = path.partition("?")
    multi = "&".join(f"host={host}" for host in hosts.split(","))
    return f"{scheme}://{credentials}{at}/{database}?{multi}{'&' + query if query else ''}"


def make_engine(database_url: str, planned_each_time: bool = False) -> Engine:
    """``planned_each_time``: PostgreSQL plans every statement for its parameters and the tables as
    they are now (``plan_cache_mode = force_custom_plan``), see ``WORKER_OPTIONS``."""
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
    # a database restart or a failover fails its one unit of work, which is retried (a request is
    # answered 503 with Retry-After, a message is redelivered); SQLAlchemy then drops every
    # connection the pool opened before it (``dropping_broken_connections`` does the same for the
    # statements run on the driver), so the next checkouts connect afresh, to the new primary
    # when the URL names several hosts (``engine_url``).
    # JIT off: PostgreSQL compiles a plan whose cost estimate passes jit_above_cost, and a search's
    # plans do (its text functions are costed high so that they run on few rows): compiling took
    # 50 ms to 1.7 s of a search that ran in less (benchmarks/search.py --explain). Nothing here
    # runs the long analytic scans JIT pays off on.
    return create_engine(
        engine_url(database_url),
        pool_size=10,
        max_overflow=20,
        pool_recycle=1800,
        connect_args={"options": "-c jit=off" + (WORKER_OPTIONS if planned_each_time else "")},
    )


#: The workers' connections: psycopg prepares a statement run five times, and PostgreSQL then
#: keeps a generic plan for it, made for the tables as they were, until an ANALYZE of one of them.
#: A table young and small when the plan was made (a new deployment, a table that was empty) kept
#: a sequential scan as it grew: the notify worker's ``UPDATE notifications ... WHERE key IN``
#: went from 1 to 28 ms a batch over a minute of load, until autovacuum's next ANALYZE. A worker's
#: statements each serve a batch of messages, so planning each anew costs little beside them; the
#: web app's requests, one case each, keep the generic plans (the tables they touch by id are
#: read through their primary keys whatever their size).
WORKER_OPTIONS = " -c plan_cache_mode=force_custom_plan"


@contextmanager
def dropping_broken_connections(connection: Connection) -> Iterator[None]:
    """Around statements run on ``connection``'s driver connection, which SQLAlchemy does not see:
    when one fails because the connection is broken (the server went away), do what SQLAlchemy
    does for its own statements: invalidate the connection, so that it is not handed out again,
    and renew the pool, whose other connections were opened to the same server."""
    try:
        yield
    except psycopg.OperationalError as err:
        _drop_if_broken(connection.connection.driver_connection, err, connection.invalidate, connection.engine)
        raise


def _drop_if_broken(
    driver: psycopg.Connection | None, err: BaseException, invalidate: Callable[[BaseException], None], engine: Engine
) -> None:
    """After ``err`` on ``driver``: if the connection is broken, ``invalidate`` it (it is not handed
    out again) and renew ``engine``'s pool, whose other connections were opened to the same server."""
    if driver is not None and (driver.broken or driver.closed):
        invalidate(err)
        engine.dispose()


@contextmanager
def autocommit_driver(engine: Engine) -> Iterator[psycopg.Connection]:
    """A pooled connection's psycopg connection in autocommit, for statements that are atomic by
    themselves (intake's one statement, ``DriverStatement.run``), put back as it was taken.

    Cheaper than ``engine.connect()`` with ``isolation_level="AUTOCOMMIT"``: SQLAlchemy's
    ``Connection``, its execution options and its resetting of the isolation level at check-in
    cost 30-40 us a checkout (a twentieth of intake's request in process); this sets psycopg's
    flag and clears it. A statement that fails because the connection broke does what
    ``dropping_broken_connections`` does: the connection is invalidated and the pool renewed."""
    fairy = engine.raw_connection()
    try:
        driver = fairy.driver_connection
        driver.autocommit = True
        try:
            yield driver
        finally:
            # (a broken connection's status is unknown: psycopg refuses to change its mode, and it
            # is not handed out again)
            if not driver.broken and not driver.closed:
                driver.autocommit = False
    except psycopg.OperationalError as err:
        _drop_if_broken(driver, err, fairy.invalidate, engine)
        raise
    finally:
        fairy.close()


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
    mappers on first use, which this must do too: in a new process it can come first. (Asked of
    the model's mapper: ``configure_mappers`` takes a lock and goes over every registry each time,
    a sixth of the cost of intake's written case, ``submission._as_written``.)"""
    mapper = model.__mapper__  # type: ignore[attr-defined]
    if not mapper.configured:
        configure_mappers()
    instance = mapper.class_manager.new_instance()
    instance.__dict__.update(columns)
    make_transient_to_detached(instance)
    return instance


@dataclass(frozen=True)
class DriverStatement:
    """A Core statement compiled once for PostgreSQL's driver (psycopg), with what SQLAlchemy
    does to its parameters on the way (the values the statement carries, the types' bind
    processors, e.g. JSON), so that running it costs what psycopg costs: through a SQLAlchemy
    ``Connection`` the same execution cost about twice as much.

    It is written with PostgreSQL's own ``$n`` placeholders and run on a ``RawCursor``, which
    sends the text as it is: psycopg parses a ``%(name)s`` text for each execution once it is
    longer than 4096 characters or has more than 50 parameters (below that it caches the
    parsing), which cost intake's one statement a tenth of its CPU."""

    text: str
    #: for each ``$n`` in turn: (the parameter's name, its bind processor or None), or
    #: (None, the value the statement carries, processed already)
    parameters: tuple[tuple[str | None, Any], ...]

    @classmethod
    def compile(cls, statement: ClauseElement) -> DriverStatement:
        dialect = postgresql_psycopg.dialect(paramstyle="numeric_dollar")
        compiled = statement.compile(dialect=dialect)
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        parameters = []
        for position, name in enumerate(compiled.positiontup or (), start=1):
            bind = binds[name]
            impl = bind.type.dialect_impl(dialect)
            process = impl.bind_processor(dialect)
            if isinstance(impl, sqltypes.JSON) and f"${position}::JSON" in compiled.string:
                # The JSON text itself, as psycopg's Json wrapper would write it (json.dumps, the
                # default: nothing sets another), cast by the statement: the wrapper and psycopg's
                # Python dumper for it cost more than json.dumps (seven of intake's parameters).
                process = impl._make_bind_processor(None, json.dumps)  # noqa: SLF001
            if bind.required:
                parameters.append((name, process))
            else:
                value = bind.effective_value
                parameters.append((None, process(value) if process else value))
        return cls(compiled.string, tuple(parameters))

    def execute(self, connection: Connection, values: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of the statement run with ``values`` (every parameter it names: one
        missing is a KeyError) on ``connection``'s psycopg connection."""
        with dropping_broken_connections(connection):
            return self.run(connection.connection.driver_connection, values)

    def run(self, driver: psycopg.Connection, values: dict[str, Any]) -> tuple[Any, ...] | None:
        """``execute`` on a psycopg connection (``autocommit_driver``'s)."""
        arguments = [
            given if name is None else values[name] if given is None else given(values[name])
            for name, given in self.parameters
        ]
        with RawCursor(driver) as cursor:
            return cursor.execute(self.text, arguments).fetchone()
