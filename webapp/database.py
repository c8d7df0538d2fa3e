"""Engine settings per backend: SQLite gets WAL, a busy timeout, foreign keys, the run search's function and
writers that take turns (models.sqlite_writer, SQLITE_WRITER_QUEUE)."""
from sqlalchemy import event, text

from models import sqlite_writer
from services import run_search
from webapp.extensions import db

SQLITE_BUSY_TIMEOUT_MS = 15000


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # The Runs tab's search on SQLite (services.run_search: the same words and rule as PostgreSQL's index)
    dbapi_connection.create_function(run_search.SQLITE_FUNCTION, 4, run_search.sqlite_function, deterministic=True)


def _queued_writers(dialect, _record, args, params):
    """Open the connection as one that queues for the write lock with the other writers (SQLITE_WRITER_QUEUE)."""
    connection = dialect.loaded_dbapi.connect(*args, factory=sqlite_writer.QueuedConnection, **params)
    connection.writers = sqlite_writer.writers_of(str(args[0]) if args else str(params.get("database", "")))
    return connection


def configure_engine(app) -> None:
    sqlite_writer.WAIT_SECONDS = SQLITE_BUSY_TIMEOUT_MS / 1000
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _sqlite_pragmas):
            event.listen(engine, "connect", _sqlite_pragmas)
            if app.config["SQLITE_WRITER_QUEUE"]:
                event.listen(engine, "do_connect", _queued_writers)


def database_answers() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:
        db.session.rollback()
        return False
