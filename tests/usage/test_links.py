"""Usage links: folded from pendinglinks into entitylink exactly once, by one folder at a time,
surviving failed folds and racing folders, skipping what a folder already wrote."""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from riskengine.usage.links import LinkFolder, start_folder
from tests.factories import count, expected_links, links, post, record, varied


def test_a_request_folds_once_enough_batches_wait_and_counts_exactly(config):
    from dataclasses import replace

    from riskengine.apikeys import create_key
    from riskengine.web.app import create_app
    app = create_app(replace(config, usage_fold_batches=3))
    try:
        auth = {"Authorization": f"Bearer {create_key(app.extensions['riskengine'].db, 'k', None)}"}
        client = app.test_client()
        batches = [varied(k) for k in range(3)]
        for k, records in enumerate(batches[:2]):
            assert post(client, auth, records).status_code == 202
            assert count(app, "SELECT COUNT(*) FROM pendinglinks") == k + 1 and not links(app)
        assert post(client, auth, batches[2]).status_code == 202      # no folder ran: the third request folds
        assert count(app, "SELECT COUNT(*) FROM pendinglinks") == 0
        assert links(app) == expected_links(app, batches)
    finally:
        app.extensions["riskengine"].close()


def test_a_failed_fold_keeps_the_batches_and_a_retry_counts_them_once(client, auth, app):
    state = app.extensions["riskengine"]
    batches = [varied(k) for k in range(2)]
    for records in batches:
        assert post(client, auth, records).status_code == 202
    sqlite = state.db.dialect.name == "sqlite"
    with state.db.begin() as conn:
        if sqlite:
            conn.execute(text("CREATE TRIGGER link_fails BEFORE INSERT ON entitylink "
                              "BEGIN SELECT RAISE(ABORT, 'disk full'); END"))
        else:
            conn.execute(text("CREATE FUNCTION link_fails() RETURNS trigger AS $$ BEGIN "
                              "RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER link_fails BEFORE INSERT ON entitylink "
                              "FOR EACH ROW EXECUTE FUNCTION link_fails()"))
    try:
        with pytest.raises(Exception, match="disk full"):
            LinkFolder(state.db, state.hasher).fold()
        assert count(app, "SELECT COUNT(*) FROM pendinglinks") == 2 and not links(app)
    finally:
        with state.db.begin() as conn:
            conn.execute(text("DROP TRIGGER link_fails" + ("" if sqlite else " ON entitylink")))
    assert state.folder.fold() == 2
    assert links(app) == expected_links(app, batches)


def test_concurrent_folders_count_each_batch_once(client, auth, app):
    state = app.extensions["riskengine"]
    batches = [varied(k, n=200) for k in range(7)]      # fewer than config.usage_fold_batches
    for records in batches:
        assert post(client, auth, records).status_code == 202
    results, errors = [], []

    def fold():
        try:
            # Folders of their own, as in separate workers or replicas.
            results.append(LinkFolder(state.db, state.hasher).fold(batches=2))
        except Exception as e:      # surfaced below
            errors.append(e)
    threads = [threading.Thread(target=fold) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and sum(results) == 7
    assert links(app) == expected_links(app, batches)


def test_the_workers_folder_folds_waiting_links(client, auth, app):
    state = app.extensions["riskengine"]
    batches = [varied(k) for k in range(2)]
    for records in batches:
        assert post(client, auth, records).status_code == 202
    assert count(app, "SELECT COUNT(*) FROM pendinglinks") == 2
    stop = start_folder(state.folder, every=0.1)     # what each served worker runs
    try:
        deadline = time.monotonic() + 30
        while count(app, "SELECT COUNT(*) FROM pendinglinks") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
    assert count(app, "SELECT COUNT(*) FROM pendinglinks") == 0
    assert links(app) == expected_links(app, batches)


def test_a_folder_skips_links_it_already_wrote_within_its_tolerance(client, auth, app):
    state = app.extensions["riskengine"]
    folder = LinkFolder(state.db, state.hasher, tolerance=60)

    def fold_one(minute, second):
        stamp = f"2026-11-20T10:{minute:02d}:{second:02d}Z"
        assert post(client, auth, [record(0, account_id="acct_z", occurred_at=stamp)]).status_code == 202
        folder.fold()
        rows = {k: v for k, v in links(app).items() if k[2] == "acct_z"}
        assert len(rows) == 3 and count(app, "SELECT COUNT(*) FROM pendinglinks") == 0
        return {(f, la) for f, la, _ in rows.values()}

    def at(m, s):
        return datetime(2026, 11, 20, 10, m, s, tzinfo=UTC).timestamp()

    assert fold_one(10, 0) == {(at(10, 0), at(10, 0))}
    assert fold_one(10, 50) == {(at(10, 0), at(10, 0))}         # 50 s later: within tolerance, not rewritten
    assert fold_one(11, 30) == {(at(10, 0), at(11, 30))}        # 90 s later: rewritten
    assert fold_one(9, 0) == {(at(9, 0), at(11, 30))}           # earlier than known: first_seen moves back
    other = LinkFolder(state.db, state.hasher, tolerance=60)    # another worker remembers nothing
    assert post(client, auth, [record(0, account_id="acct_z", occurred_at="2026-11-20T10:12:00Z")]).status_code == 202
    other.fold()
    assert {(f, la) for (_, _, a), (f, la, _) in links(app).items() if a == "acct_z"} == {(at(9, 0), at(12, 0))}


def test_one_folder_folds_for_the_machine_and_another_takes_over(client, auth, app):
    state = app.extensions["riskengine"]

    def folded_within(seconds=30):
        deadline = time.monotonic() + seconds
        while count(app, "SELECT COUNT(*) FROM pendinglinks") and time.monotonic() < deadline:
            time.sleep(0.05)
        return count(app, "SELECT COUNT(*) FROM pendinglinks") == 0

    first, second = LinkFolder(state.db, state.hasher), LinkFolder(state.db, state.hasher)
    stop_first = start_folder(first, every=0.1)
    assert post(client, auth, varied(0)).status_code == 202 and folded_within()
    stop_second = start_folder(second, every=0.1)
    try:
        for k in (1, 2):
            assert post(client, auth, varied(k)).status_code == 202 and folded_within()
        sqlite = state.db.dialect.name == "sqlite"      # PostgreSQL replicas fold side by side
        assert first.written and (not second.written or not sqlite)   # the second stood by
        stop_first.set()                                      # the first worker's process ends
        assert post(client, auth, varied(3)).status_code == 202 and folded_within()
        assert second.written
    finally:
        stop_first.set()
        stop_second.set()
    assert links(app) == expected_links(app, [varied(k) for k in range(4)])


def test_the_folder_logs_one_line_per_failure_and_backs_off_while_the_database_is_down(caplog, tmp_path):
    """PostgreSQL down: each failed round is one warning line, no traceback, and the rounds
    come further and further apart (20 ms apart, 1.5 s would be about 75 rounds)."""
    import logging

    from riskengine import storage
    from riskengine.hashing import Hasher
    from tests.factories import free_port, one_line_failures

    down = storage.make_engine(f"postgresql://root@127.0.0.1:{free_port()}/nothing", 200)
    caplog.set_level(logging.WARNING, logger="riskengine.usage.links")
    stop = start_folder(LinkFolder(down, Hasher(b"k" * 32)), every=0.02, longest=10.0)
    try:
        time.sleep(1.5)
    finally:
        stop.set()
    # On PostgreSQL the folder's advisory lock is taken first, so a down server fails there.
    said = one_line_failures(caplog, "riskengine.usage.links", ("folding usage links failed, retrying in about",
                                                                "usage link folder cannot start, retrying"), 2, 12)
    assert all("cannot connect" in line for line in said), said
    down.dispose()


def test_backoff_doubles_up_to_its_longest_and_resets_after_a_success():
    from riskengine.usage.links import Backoff
    pause = Backoff(0.5, 3.0)
    seen = [pause.next()]
    for _ in range(5):
        pause.failed()
        seen.append(pause.next())
    assert seen == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    pause.succeeded()
    assert pause.next() == 0.5
