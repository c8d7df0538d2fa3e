"""The SQLAlchemy declarative base and the unbound Flask-SQLAlchemy extension."""
from contextlib import contextmanager
from datetime import datetime, timezone

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints keep Alembic's autogenerate and SQLite batch migrations deterministic.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@contextmanager
def core_savepoint(session, name: str = "dispatch"):
    """A SAVEPOINT around Core statements, issued on the connection directly.

    session.begin_nested() does the same with the ORM's bookkeeping, which costs more CPU than the
    SAVEPOINT's round trips (issue #11, B3). Pending ORM changes are flushed first, so nothing of the
    caller's is written inside the savepoint and undone by its rollback; the block itself must only run
    Core statements. On an error the block's writes are rolled back and the error goes on up.
    """
    session.flush()
    connection = session.connection()
    dbapi_connection = connection.connection.dbapi_connection
    if connection.dialect.name == "sqlite" and not dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # see begin_savepoint

    def run(statement: str) -> None:  # straight to the driver: these statements need no SQLAlchemy processing
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()

    run(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        run(f"ROLLBACK TO SAVEPOINT {name}")
        run(f"RELEASE SAVEPOINT {name}")
        raise
    run(f"RELEASE SAVEPOINT {name}")


def begin_savepoint(session):
    """session.begin_nested() that is also safe on SQLite.

    pysqlite starts its transaction lazily (at the first INSERT/UPDATE/DELETE), so a SAVEPOINT
    issued before any write would open, and its RELEASE commit, the outermost transaction.
    When nothing has been written yet, start the real transaction first.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    return session.begin_nested()
