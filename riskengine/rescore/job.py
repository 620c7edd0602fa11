"""The re-scoring job: every account active in a window, scored again on its signup/login
signals (through the current assess model), its behaviour and its cluster.

Shape of a run:
  global   accounts, labels, clusters, template sharing      (one pass each, vectorised)
  score    per partition: usage features + assess score + one XGBoost predict
           (one partition in-process; many on Dask with --dask)
  write    in chunks, each one transaction; a crash resumes the unfinished run and skips
           the accounts it already wrote, so nothing is written twice.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import numpy as np

from riskengine import storage
from riskengine.ids import assessment_id, ulid
from riskengine.privacy import Purged, purge_raw
from riskengine.rescore.dask import score_on_dask
from riskengine.rescore.decide import Outcome, decide
from riskengine.rescore.facts import RescoreFacts
from riskengine.rescore.facts import signals as rescore_signals
from riskengine.rescore.listed import listed_keys
from riskengine.rescore.partition import Scored, score_partition
from riskengine.rescore.phases import Phases
from riskengine.rescore.population import Population, population

log = logging.getLogger(__name__)


CHUNK = 20_000


@dataclass
class Summary:
    run_id: str
    accounts: int
    scored: int
    skipped: dict[str, str]
    decisions: dict[str, int]
    changes: int
    resumed: bool
    seconds: float
    phases: dict[str, float]
    monitored: dict[str, int] | None = None     # monitor mode: what enforcing would decide
    purged: Purged | None = None                # the retention phase's counts

    def text(self) -> str:
        d = ", ".join(f"{k} {v}" for k, v in sorted(self.decisions.items()))
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in self.phases.items())
        lines = [f"rescore {self.run_id}{' (resumed)' if self.resumed else ''}: {self.scored} of {self.accounts} "
                 f"active accounts scored in {self.seconds:.1f}s ({phases})"]
        if self.purged is not None:
            lines.append(self.purged.text())
        if not self.accounts:
            # A young or idle service: say so rather than print empty counts.
            lines.append("no account was active in the window: nothing to decide")
            return "\n".join(lines)
        lines += [f"decisions: {d}", f"decision changes: {self.changes}"]
        if self.monitored is not None:
            m = ", ".join(f"{k} {v}" for k, v in sorted(self.monitored.items()))
            lines.insert(2, f"monitor mode: every answer is allow; enforcing would decide: {m}")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} bad rows: " + "; ".join(
                f"{a}: {why}" for a, why in list(self.skipped.items())[:10]))
        return "\n".join(lines)


def run(runtime, active_model, since_seconds: float, changes_path: str | None = None, webhook=None,
        dask_address: str | None = None, progress: bool = True, now: float | None = None,
        partitions: int = 8) -> Summary:
    started = time.perf_counter()
    phases = Phases()
    with phases("load"):
        runtime.folder.fold()     # usage links still waiting are links too
    run_id, as_of, resumed, done = _begin(runtime.db, since_seconds, now)
    since = as_of - since_seconds
    policy = runtime.policy
    with runtime.db.connect() as conn:
        pop = population(conn, since, as_of, phases, keep_usage=dask_address is None,
                         listed=listed_keys(policy, runtime.hasher))
        with phases("policy facts"):
            facts = RescoreFacts.build(conn, pop, policy, runtime.readers, since, as_of)
    todo = np.asarray([i for i, a in enumerate(pop.accounts) if a not in done], dtype=np.int64)
    parts = _score(runtime, active_model, pop, todo, since, as_of, dask_address, partitions, phases)
    outcomes, skipped = [], {}
    with phases("decide"):
        for rows, scored in parts:
            skipped.update(scored.bad)
            outcomes += [(o, int(rows[o.k]), scored) for o in decide(pop, rows, scored, active_model, policy, facts)]
    versions = {"model_version": active_model.version, "policy_version": runtime.policy.version}
    with phases("write"), storage.bulk_checkpoints(runtime.db):
        changes = _write(runtime, pop, run_id, as_of, outcomes, skipped, changes_path, webhook, progress, versions)
    with runtime.db.begin() as conn:
        storage.finish_run(conn, run_id, len(pop.accounts), time.time())
    with phases("retention"):
        purged = purge_raw(runtime.db, runtime.config.raw_retention_days, now)
    return Summary(run_id, len(pop.accounts), len(outcomes), skipped, _count(o.decision for o, _, _ in outcomes),
                   changes, resumed, time.perf_counter() - started, phases,
                   _count(o.verdict for o, _, _ in outcomes) if policy.mode == "monitor" else None, purged)


def _count(decisions) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in decisions:
        out[d] = out.get(d, 0) + 1
    return out


def _begin(db, since_seconds, now):
    with db.begin() as conn:
        open_run = storage.unfinished_run(conn, since_seconds)
        if open_run is not None:
            return open_run.id, open_run.as_of_ts, True, storage.done_in_run(conn, open_run.id)
        run_id = "rs_" + ulid()
        as_of = time.time() if now is None else now
        storage.start_run(conn, run_id, time.time(), as_of, since_seconds)
        return run_id, as_of, False, set()


def _partitions(todo: np.ndarray, k: int) -> list[np.ndarray]:
    return [p for p in np.array_split(todo, max(1, min(k, len(todo)))) if len(p)]


def _score(runtime, active_model, pop, todo, since, as_of, dask_address, partitions, phases=None):
    phases = Phases() if phases is None else phases
    if not len(todo):
        return []
    if dask_address is None:
        with runtime.db.connect() as conn:
            return [(todo, score_partition(conn, pop, todo, runtime.readers, runtime.model, active_model,
                                           since, as_of, phases))]
    with phases("dask (load+features+predict)"):
        return score_on_dask(dask_address, runtime, active_model, pop, _partitions(todo, partitions), since, as_of)


def _write(runtime, pop, run_id, as_of, outcomes, skipped, changes_path, webhook, progress, versions) -> int:
    from tqdm import tqdm
    changes = 0
    out = open(changes_path, "a") if changes_path else None
    try:
        bar = tqdm(total=len(outcomes), unit="acct", disable=not progress, desc="rescore")
        for start in range(0, len(outcomes), CHUNK):
            chunk = outcomes[start:start + CHUNK]
            written = _write_chunk(runtime, pop, run_id, as_of, chunk, skipped, versions)
            for o, i in written:
                # Changes of the verdict: in monitor mode, what enforcing would change.
                prev = pop.previous[i]
                if prev is not None and prev != o.verdict or prev is None and o.verdict != "allow":
                    change = {"account_id": o.account, "previous_decision": prev, "decision": o.decision,
                              "monitored_decision": o.monitored, "score": o.score, "reasons": o.reasons}
                    changes += 1
                    if out:
                        out.write(json.dumps(change) + "\n")
                    if webhook is not None:
                        webhook.send(change)
            if out:
                out.flush()
            bar.update(len(chunk))
        bar.close()
    finally:
        if out:
            out.close()
    return changes


def _write_chunk(runtime, pop, run_id, as_of, chunk, skipped, versions):
    """One transaction per chunk; if it fails, row by row so one bad row is reported and
    skipped instead of stopping the run."""
    rows = [_rows(run_id, as_of, o, i, scored, pop, versions) for o, i, scored in chunk]
    try:
        with runtime.db.begin() as conn:
            storage.write_rescores(conn, [r for r, _ in rows], [a for _, a in rows])
        return [(o, i) for o, i, _ in chunk]
    except Exception as e:       # noqa: BLE001 - isolate the bad row below
        log.warning("chunk write failed (%s); retrying row by row", e)
    written = []
    for (o, i, _), (row, acc) in zip(chunk, rows, strict=True):
        try:
            with runtime.db.begin() as conn:
                storage.write_rescores(conn, [row], [acc])
            written.append((o, i))
        except Exception as e:   # noqa: BLE001
            skipped[o.account] = f"write failed: {type(e).__name__}: {e}"[:300]
    return written


def _rows(run_id, as_of, o: Outcome, i: int, scored: Scored, pop: Population, versions: dict):
    asm = assessment_id(as_of)
    # Built again here rather than kept from deciding: for a million accounts that would cost gigabytes.
    signals = rescore_signals(pop, i, scored.usage_rows()[o.k])
    links = signals["links"]
    response = {"assessment_id": asm, "event": "rescore", "account_id": o.account, "decision": o.decision,
                "score": o.score, "reasons": o.reasons, "decided_by": o.decided_by, "degraded": False,
                "monitored_decision": o.monitored, **versions, "signals": signals}
    row = {"id": asm, "event_id": f"rescore:{run_id}:{o.account}", "account_id": o.account, "event": "rescore",
           "occurred_ts": as_of, "created_ts": as_of, "decision": o.decision, "monitored_decision": o.monitored,
           "score": o.score, "decided_by": o.decided_by, "degraded": False, "response": response, **versions,
           "features": scored.matrix_rows()[o.k]}
    acc = {"account_id": o.account, "decision": o.decision, "verdict": o.verdict, "score": o.score, "t": as_of,
           "asm": asm, "cluster_id": links["cluster_id"], "cluster_size": links["cluster_size"]}
    return row, acc
