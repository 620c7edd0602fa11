"""Challenges teach: how a login challenge ended changes the account's baseline. A passed
challenge remembers the device and its subnet for the account (later logins from them
read remembered_device = 1); a failed or abandoned one counts against the device.

The challenge route and the training replay both call `learn_from_challenge`, so the
model is trained on the same baseline the service keeps."""
from __future__ import annotations

from sqlalchemy.engine import Connection

from riskengine import storage
from riskengine.scoring import baseline
from riskengine.scoring.baseline import AccountBaseline


def learn_from_challenge(conn: Connection, account_id: str, device_key: str | None, subnet_key: str | None,
                         outcome: str, t: float, login_ts: float | None = None) -> None:
    """Fold one challenge outcome into the account's baseline (in the caller's transaction).
    `login_ts`: the time of the login the challenge was on (a failed one takes back what
    that login taught); None: the device's latest."""
    current = AccountBaseline.loads(storage.read_account_context(conn, account_id)) or AccountBaseline()
    after = baseline.after_challenge(current, baseline.short(device_key), baseline.short(subnet_key),
                                     baseline.PASSED if outcome == "passed" else baseline.FAILED, t, login_ts)
    storage.write_login_context(conn, account_id, after.dumps(), None, None, t)


def record_challenge_outcome(conn: Connection, assessment_id: str, outcome: str, t: float) -> None:
    """Store the outcome of the challenge an assessment asked for, and learn from it."""
    storage.add_challenge_outcome(conn, assessment_id, outcome, t)
    subject = storage.challenge_subject(conn, assessment_id)
    if subject is not None:
        account_id, device_key, subnet_key, login_ts = subject
        learn_from_challenge(conn, account_id, device_key, subnet_key, outcome, t, login_ts)
