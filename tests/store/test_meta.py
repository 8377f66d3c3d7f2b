import threading

import pytest

from dockyard.store.meta import MetaDB


@pytest.fixture
def db(tmp_path):
    m = MetaDB(str(tmp_path / "meta" / "db.sqlite"))
    yield m
    m.close()


def test_wal_mode(db):
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrate_is_idempotent_and_append_only(db, tmp_path):
    v1 = ["CREATE TABLE things (id TEXT PRIMARY KEY)"]
    db.migrate("things", v1)
    db.migrate("things", v1)
    db.execute("INSERT INTO things VALUES ('a')")
    v2 = v1 + ["ALTER TABLE things ADD COLUMN n INTEGER DEFAULT 7"]
    db.migrate("things", v2)
    db.migrate("things", v2)
    assert [tuple(r) for r in db.query("SELECT id, n FROM things")] == [("a", 7)]
    # another component has its own counter
    db.migrate("others", ["CREATE TABLE others (x)"])
    db.close()
    again = MetaDB(db.path)
    again.migrate("things", v2)
    assert again.query_one("SELECT n FROM things")[0] == 7
    again.close()


def test_transaction_rolls_back(db):
    db.migrate("t", ["CREATE TABLE t (x INTEGER)"])
    with pytest.raises(RuntimeError):
        with db.transaction() as c:
            c.execute("INSERT INTO t VALUES (1)")
            with db.transaction() as c2:  # nested joins the outer one
                c2.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("boom")
    assert db.query("SELECT * FROM t") == []
    with db.transaction() as c:
        c.execute("INSERT INTO t VALUES (3)")
    assert [r[0] for r in db.query("SELECT x FROM t")] == [3]


def test_concurrent_writers(db):
    db.migrate("t", ["CREATE TABLE t (x INTEGER)"])

    def work(base):
        for i in range(50):
            with db.transaction() as c:
                c.execute("INSERT INTO t VALUES (?)", (base + i,))

    threads = [threading.Thread(target=work, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.query_one("SELECT COUNT(*) FROM t")[0] == 200
