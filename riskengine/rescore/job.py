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
from dataclasses import dataclass, field

import numpy as np

from riskengine import storage
from riskengine.rescore.behaviour import BEHAVIOUR_FEATURES, IPTable, UsageColumns, usage_features
from riskengine.rescore.clusters import cluster_features, components, link_edges
from riskengine.scoring.features import FEATURES
from riskengine.ids import assessment_id, ulid
from riskengine.rescore.templates import template_families, template_sharing

log = logging.getLogger(__name__)

CLUSTER_FEATURES = ["cluster_size", "cluster_blocked_others", "cluster_fraud_others", "cluster_legit_others",
                    "cluster_signup_burst"]
ACTIVE_FEATURES = ["assess_score", "account_age_days"] + BEHAVIOUR_FEATURES + CLUSTER_FEATURES
CHUNK = 20_000


class Phases(dict):
    """Seconds per phase of a run, accumulated (`with phases("load"): ...`)."""

    def __call__(self, name: str):
        phases = self

        class _Timer:
            def __enter__(self):
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - self.t
        return _Timer()


@dataclass
class Population:
    """What the job knows of all active accounts before scoring any of them."""
    accounts: list[str]
    index: dict[str, int]
    created: np.ndarray
    previous: list[str | None]       # decision before this run
    labels: dict[str, str]
    cluster: np.ndarray              # cluster id per account
    cluster_feats: dict[str, np.ndarray]
    sharing: np.ndarray              # template sharing per account
    usage: UsageColumns | None = None   # the window's usage of all accounts, when loaded centrally


@dataclass
class Scored:
    matrix: np.ndarray               # ACTIVE_FEATURES per account (rows of the partition)
    score: np.ndarray
    usage: dict[str, np.ndarray]
    bad: dict[str, str] = field(default_factory=dict)   # account -> why it was skipped
    _lists: dict = field(default_factory=dict, repr=False)

    def matrix_rows(self) -> list[list]:
        """The matrix as rounded Python lists (NaN -> None), built once for the writer."""
        if "matrix" not in self._lists:
            self._lists["matrix"] = _as_lists(self.matrix)
        return self._lists["matrix"]

    def usage_rows(self) -> list[list]:
        if "usage" not in self._lists:
            self._lists["usage"] = _as_lists(np.column_stack([self.usage[f] for f in BEHAVIOUR_FEATURES]))
        return self._lists["usage"]


def _as_lists(matrix: np.ndarray) -> list[list]:
    rounded = np.round(np.asarray(matrix, dtype=np.float64), 4).astype(object)
    rounded[np.isnan(np.asarray(matrix, dtype=np.float64))] = None
    return rounded.tolist()


def population(conn, since: float, until: float, phases: Phases | None = None,
               keep_usage: bool = False) -> Population:
    """With keep_usage, the window's usage is read once here and reused by the (single)
    partition; without, only the fingerprints are read (for Dask, whose workers read their own)."""
    phases = Phases() if phases is None else phases
    with phases("load"):
        return _population(conn, since, until, phases, keep_usage)


def _population(conn, since, until, phases, keep_usage) -> Population:
    accounts = storage.active_accounts(conn, since, until)
    index = {a: i for i, a in enumerate(accounts)}
    n = len(accounts)
    created = np.full(n, np.nan)
    previous: list[str | None] = [None] * n
    blocked = np.zeros(n, bool)
    for acct, created_ts, last, rescored in storage.account_states(conn):
        i = index.get(acct)
        if i is not None:
            created[i] = created_ts
            previous[i] = rescored or last
            blocked[i] = (rescored or last) == "block"
    labels = storage.latest_labels(conn, until)
    fraud = np.array([labels.get(a) == "fraud" for a in accounts], bool)
    legit = np.array([labels.get(a) == "legit" for a in accounts], bool)
    usage = UsageColumns.from_rows(storage.usage_window(conn, since, until), index) if keep_usage else None
    fp_account, fp = _distinct_fingerprints(usage.account, usage.fingerprint) if usage is not None \
        else _fingerprints(conn, since, until, index)
    links = _link_rows(conn, since, index)
    with phases("clusters"):
        sharing = template_sharing(fp_account, fp, n)
        cluster = _clusters(n, links, fp_account, fp)
        feats = cluster_features(cluster, blocked, fraud, legit, created)
    phases["load"] = phases.get("load", 0.0) - phases["clusters"]     # nested inside "load"
    return Population(accounts, index, created, previous, labels, cluster, feats, sharing, usage)


def _fingerprints(conn, since, until, index, chunk: int = 500_000):
    """Distinct (account index, fingerprint) pairs in the window."""
    accts, fps = [], []
    for block in storage.chunked(storage.usage_fingerprints(conn, since, until), chunk):
        a, f = zip(*block)
        accts.append(np.fromiter((index.get(x, -1) for x in a), np.int64, len(block)))
        fps.append(np.fromiter((v & 0xFFFFFFFFFFFFFFFF for v in f), np.uint64, len(block)))
    if not accts:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    return _distinct_fingerprints(np.concatenate(accts), np.concatenate(fps))


def _distinct_fingerprints(acct: np.ndarray, fp: np.ndarray):
    keep = (acct >= 0) & (fp != 0)
    acct, fp = acct[keep], fp[keep]
    order = np.lexsort((fp, acct))
    acct, fp = acct[order], fp[order]
    first = np.r_[True, (acct[1:] != acct[:-1]) | (fp[1:] != fp[:-1])]
    return acct[first], fp[first]


def _link_rows(conn, since, index, chunk: int = 500_000):
    """(kind, entity id, account index) of the window's links. Link values are keyed hashes
    that include their kind, so the value alone identifies the shared thing."""
    ids: dict[str, int] = {}
    kinds, values, accts = [], [], []
    for block in storage.chunked(storage.link_rows(conn, since), chunk):
        k, v, a = zip(*block)
        kinds.append(np.asarray(k, object))
        values.append(np.fromiter((ids.setdefault(x, len(ids)) for x in v), np.int64, len(block)))
        accts.append(np.fromiter((index.get(x, -1) for x in a), np.int64, len(block)))
    if not kinds:
        return np.zeros(0, object), np.zeros(0, np.int64), np.zeros(0, np.int64)
    kind, value, acct = np.concatenate(kinds), np.concatenate(values), np.concatenate(accts)
    keep = acct >= 0
    return kind[keep], value[keep], acct[keep]


def _clusters(n, links, fp_account, fp) -> np.ndarray:
    src, dst, w = link_edges(*links)
    # A prompt-template family is one shared thing, like a card: its rarity weighs the edge.
    family = template_families(fp_account, fp)
    keep = family >= 0
    if keep.any():
        t_src, t_dst, t_w = link_edges(np.full(int(keep.sum()), "template", object), family[keep], fp_account[keep])
        src, dst, w = np.concatenate([src, t_src]), np.concatenate([dst, t_dst]), np.concatenate([w, t_w])
    return components(n, src, dst, w)


def partition_features(conn, pop: Population, rows: np.ndarray, readers, assess_model, since: float,
                       until: float, phases: Phases | None = None) -> Scored:
    """ACTIVE_FEATURES for the accounts at `rows` (sorted indexes into pop.accounts)."""
    phases = Phases() if phases is None else phases
    accounts = [pop.accounts[i] for i in rows]
    local = {a: j for j, a in enumerate(accounts)}
    lo, hi = accounts[0], accounts[-1]
    with phases("load"):
        if pop.usage is not None and len(rows) == len(pop.accounts):
            u = pop.usage                  # read once by population(); same indexes
        else:
            u = UsageColumns.from_rows(storage.usage_window(conn, since, until, lo, hi), local)
        latest = _latest_features(conn, local, until, lo, hi)
    with phases("features"):
        ipt = IPTable.lookup(u.ips, readers)
        usage = usage_features(u, len(accounts), ipt, since, until, sharing=pop.sharing[rows])
    with phases("predict"):
        assess, bad = _assess_scores(latest, local, assess_model)
    cols = {"assess_score": assess, "account_age_days": (until - pop.created[rows]) / 86400.0, **usage,
            **{k: v[rows] for k, v in pop.cluster_feats.items()}}
    matrix = np.column_stack([np.asarray(cols[f], dtype=np.float32) for f in ACTIVE_FEATURES])
    return Scored(matrix, np.zeros(len(accounts)), usage, bad)


def score_partition(conn, pop: Population, rows: np.ndarray, readers, assess_model, active_model,
                    since: float, until: float, phases: Phases | None = None) -> Scored:
    phases = Phases() if phases is None else phases
    scored = partition_features(conn, pop, rows, readers, assess_model, since, until, phases)
    with phases("predict"):
        scored.score = active_model.score_batch(scored.matrix)
    return scored


def _latest_features(conn, local, until, lo, hi) -> dict[int, object]:
    """Each account's latest stored signup/login feature vector (raw JSON or list)."""
    latest: dict[int, object] = {}
    for acct, feats, _ in storage.latest_event_features(conn, until, lo, hi):
        j = local.get(acct)
        if j is not None:
            latest[j] = feats
    return latest


def _assess_scores(latest: dict[int, object], local: dict[str, int], model):
    """Scores of the stored vectors by the current assess model; unreadable ones reported."""
    n = len(local)
    matrix = np.full((n, len(model.features)), np.nan, dtype=np.float32)
    bad: dict[str, str] = {}
    names = {j: a for a, j in local.items()}
    # Stored vectors follow FEATURES as it was when stored; the model may order them its own way.
    order = np.asarray([FEATURES.index(f) for f in model.features])
    for j, feats in latest.items():
        try:
            values = json.loads(feats) if isinstance(feats, str) else feats
            if not isinstance(values, list) or len(values) != len(FEATURES):
                raise ValueError(f"stored feature vector has {len(values) if isinstance(values, list) else '?'} "
                                 f"values, expected {len(FEATURES)}")
            matrix[j] = np.asarray(values, dtype=np.float32)[order]     # None -> NaN
        except (ValueError, TypeError) as e:
            bad[names[j]] = f"unreadable stored features: {e}"
    scores = model.score_batch(matrix) if n else np.zeros(0)
    scores[~np.isin(np.arange(n), list(latest))] = np.nan   # never assessed: unknown, not zero
    return scores, bad


# ---------------------------------------------------------------- decisions and reasons

@dataclass
class Outcome:
    account: str
    decision: str
    decided_by: str
    score: float
    reasons: list
    k: int                            # row in the partition's matrix


def decide(pop: Population, rows: np.ndarray, scored: Scored, active_model, policy) -> list[Outcome]:
    out = []
    flagged = []
    for k, i in enumerate(rows):
        acct = pop.accounts[i]
        if acct in scored.bad:
            continue
        score = float(scored.score[k])
        decision, by = active_model.decision("rescore", score, policy.thresholds), "model"
        label = pop.labels.get(acct)
        if label == "fraud":
            decision, by = "block", "rule:analyst_label"
        elif label == "legit":
            decision, by = "allow", "rule:analyst_label"
        if acct in policy.allow.accounts:
            decision, by = "allow", "list:allow_accounts"
        elif acct in policy.deny.accounts:
            decision, by = "block", "list:deny_accounts"
        out.append(Outcome(acct, decision, by, round(score, 6), [], k))
        if decision != "allow" or pop.previous[i] not in (None, "allow"):
            flagged.append((len(out) - 1, k))
    _explain(out, flagged, scored, active_model, pop, rows)
    return out


def _explain(out, flagged, scored, model, pop, rows):
    """Reasons only where an analyst will read them (flagged or changed): contributions
    cost about a prediction each."""
    if not flagged:
        return
    ks = np.asarray([k for _, k in flagged])
    contribs = model.contributions(scored.matrix[ks])
    for (o, k), c in zip(flagged, contribs):
        out[o].reasons = active_reasons(dict(zip(ACTIVE_FEATURES, c[:-1].tolist())),
                                        dict(zip(ACTIVE_FEATURES, scored.matrix[k].tolist())))
        if out[o].decided_by == "rule:analyst_label":
            out[o].reasons.insert(0, {"code": "label.analyst", "weight": 0.0,
                                      "message": f"Labelled {pop.labels[out[o].account]} by an analyst"})


ACTIVE_CODES = {
    "assess_score": ("account.signup_risk", lambda v: v >= 0.2, "Signup/login signals score {v:.2f}"),
    "usage_reasoning_share": ("usage.reasoning_elicitation", lambda v: v >= 0.5,
                              "Asks the model to show its reasoning in {v:.0%} of requests"),
    "usage_night_share": ("usage.night_activity", lambda v: v >= 0.3, "{v:.0%} of requests at night, local time"),
    "usage_hour_entropy": ("usage.around_the_clock", lambda v: v >= 0.9, "Active around the clock (hour entropy {v:.2f})"),
    "usage_interarrival_cv": ("usage.machine_timing", lambda v: v <= 0.5, "Machine-regular request timing (CV {v:.2f})"),
    "usage_quota_use": ("usage.quota_hugging", lambda v: v >= 0.7, "Runs at {v:.0%} of the daily quota"),
    "usage_template_sharing": ("usage.shared_templates", lambda v: v >= 1,
                               "Sends near-identical prompts to {v:.0f} other accounts"),
    "usage_distinct_ips": ("usage.many_ips", lambda v: v >= 10, "Used from {v:.0f} IP addresses"),
    "usage_distinct_asns": ("usage.many_networks", lambda v: v >= 5, "Used from {v:.0f} networks"),
    "usage_distinct_countries": ("usage.many_countries", lambda v: v >= 3, "Used from {v:.0f} countries"),
    "usage_anonymous_ip_share": ("usage.anonymous_ips", lambda v: v >= 0.3, "{v:.0%} of requests via anonymizers"),
    "usage_hosting_ip_share": ("usage.hosting_ips", lambda v: v >= 0.5, "{v:.0%} of requests from hosting providers"),
    "usage_max_kmh": ("usage.simultaneous_places", lambda v: v >= 1000, "Used from distant places at once ({v:.0f} km/h)"),
    "usage_fast_hops": ("usage.simultaneous_places", lambda v: v >= 1, "{v:.0f} hops between distant places"),
    "usage_output_ratio": ("usage.long_outputs", lambda v: v >= 2, "Outputs {v:.1f}x longer than inputs"),
    "usage_requests": ("usage.volume", lambda v: v >= 300, "{v:.0f} requests a day"),
    "cluster_size": ("cluster.size", lambda v: v >= 3, "In a cluster of {v:.0f} linked accounts"),
    "cluster_blocked_others": ("cluster.blocked_members", lambda v: v > 0, "{v:.0%} of its cluster is blocked"),
    "cluster_fraud_others": ("cluster.fraud_labels", lambda v: v >= 1, "{v:.0f} cluster members labelled fraud"),
    "cluster_signup_burst": ("cluster.signup_burst", lambda v: v >= 0.5, "{v:.0%} of its cluster signed up within an hour"),
    "account_age_days": ("account.new", lambda v: v < 2, "Account is {v:.1f} days old"),
}


def active_reasons(contribs: dict[str, float], values: dict[str, float], limit: int = 6) -> list[dict]:
    by_code: dict[str, tuple[float, str]] = {}
    for f, c in contribs.items():
        entry = ACTIVE_CODES.get(f)
        v = values.get(f)
        if entry is None or v is None or v != v or not entry[1](v):
            continue
        code, _, template = entry
        total = by_code.get(code, (0.0, ""))[0] + c
        by_code[code] = (total, by_code.get(code, (0, template.format(v=v)))[1] or template.format(v=v))
    ranked = sorted(((c, w, m) for c, (w, m) in by_code.items() if w >= 0.05), key=lambda x: -x[1])[:limit]
    return [{"code": c, "message": m, "weight": round(w, 3)} for c, w, m in ranked]


# ---------------------------------------------------------------- the run

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

    def text(self) -> str:
        d = ", ".join(f"{k} {v}" for k, v in sorted(self.decisions.items()))
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in self.phases.items())
        lines = [f"rescore {self.run_id}{' (resumed)' if self.resumed else ''}: {self.scored} of {self.accounts} "
                 f"active accounts scored in {self.seconds:.1f}s ({phases})",
                 f"decisions: {d}", f"decision changes: {self.changes}"]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} bad rows: " + "; ".join(
                f"{a}: {why}" for a, why in list(self.skipped.items())[:10]))
        return "\n".join(lines)


def run(engine, active_model, since_seconds: float, changes_path: str | None = None, webhook=None,
        dask_address: str | None = None, progress: bool = True, now: float | None = None,
        partitions: int = 8) -> Summary:
    started = time.perf_counter()
    phases = Phases()
    with phases("load"):
        engine.folder.fold()     # usage links still waiting are links too
    run_id, as_of, resumed, done = _begin(engine.db, since_seconds, now)
    since = as_of - since_seconds
    with engine.db.connect() as conn:
        pop = population(conn, since, as_of, phases, keep_usage=dask_address is None)
    todo = np.asarray([i for i, a in enumerate(pop.accounts) if a not in done], dtype=np.int64)
    parts = _score(engine, active_model, pop, todo, since, as_of, dask_address, partitions, phases)
    outcomes, skipped = [], {}
    with phases("decide"):
        for rows, scored in parts:
            skipped.update(scored.bad)
            outcomes += [(o, int(rows[o.k]), scored) for o in decide(pop, rows, scored, active_model, engine.policy)]
    versions = {"model_version": active_model.version, "policy_version": engine.policy.version}
    with phases("write"), storage.bulk_checkpoints(engine.db):
        changes = _write(engine, pop, run_id, as_of, outcomes, skipped, changes_path, webhook, progress, versions)
    with engine.db.begin() as conn:
        storage.finish_run(conn, run_id, len(pop.accounts), time.time())
    decisions: dict[str, int] = {}
    for o, _, _ in outcomes:
        decisions[o.decision] = decisions.get(o.decision, 0) + 1
    return Summary(run_id, len(pop.accounts), len(outcomes), skipped, decisions, changes, resumed,
                   time.perf_counter() - started, phases)


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


def _score(engine, active_model, pop, todo, since, as_of, dask_address, partitions, phases=None):
    phases = Phases() if phases is None else phases
    if not len(todo):
        return []
    if dask_address is None:
        with engine.db.connect() as conn:
            return [(todo, score_partition(conn, pop, todo, engine.readers, engine.model, active_model,
                                           since, as_of, phases))]
    from riskengine.rescore.dask import score_on_dask
    with phases("dask (load+features+predict)"):
        return score_on_dask(dask_address, engine, active_model, pop, _partitions(todo, partitions), since, as_of)


def _write(engine, pop, run_id, as_of, outcomes, skipped, changes_path, webhook, progress, versions) -> int:
    from tqdm import tqdm
    changes = 0
    out = open(changes_path, "a") if changes_path else None
    try:
        bar = tqdm(total=len(outcomes), unit="acct", disable=not progress, desc="rescore")
        for start in range(0, len(outcomes), CHUNK):
            chunk = outcomes[start:start + CHUNK]
            written = _write_chunk(engine, pop, run_id, as_of, chunk, skipped, versions)
            for o, i in written:
                prev = pop.previous[i]
                if prev is not None and prev != o.decision or prev is None and o.decision != "allow":
                    change = {"account_id": o.account, "previous_decision": prev, "decision": o.decision,
                              "score": o.score, "reasons": o.reasons}
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


def _write_chunk(engine, pop, run_id, as_of, chunk, skipped, versions):
    """One transaction per chunk; if it fails, row by row so one bad row is reported and
    skipped instead of stopping the run."""
    rows = [_rows(run_id, as_of, o, i, scored, pop, versions) for o, i, scored in chunk]
    try:
        with engine.db.begin() as conn:
            storage.write_rescores(conn, [r for r, _ in rows], [a for _, a in rows])
        return [(o, i) for o, i, _ in chunk]
    except Exception as e:       # noqa: BLE001 - isolate the bad row below
        log.warning("chunk write failed (%s); retrying row by row", e)
    written = []
    for (o, i, _), (row, acc) in zip(chunk, rows):
        try:
            with engine.db.begin() as conn:
                storage.write_rescores(conn, [row], [acc])
            written.append((o, i))
        except Exception as e:   # noqa: BLE001
            skipped[o.account] = f"write failed: {type(e).__name__}: {e}"[:300]
    return written


def _rows(run_id, as_of, o: Outcome, i: int, scored: Scored, pop: Population, versions: dict):
    asm = assessment_id(as_of)
    cluster_id = f"cl_{int(pop.cluster[i])}"
    cluster_size = int(pop.cluster_feats["cluster_size"][i])
    response = {"assessment_id": asm, "event": "rescore", "account_id": o.account, "decision": o.decision,
                "score": o.score, "reasons": o.reasons, "decided_by": o.decided_by, "degraded": False,
                "monitored_decision": None, **versions,
                "signals": {"behaviour": dict(zip(BEHAVIOUR_FEATURES, scored.usage_rows()[o.k])),
                            "links": {"cluster_id": cluster_id, "cluster_size": cluster_size}}}
    row = {"id": asm, "event_id": f"rescore:{run_id}:{o.account}", "account_id": o.account, "event": "rescore",
           "occurred_ts": as_of, "created_ts": as_of, "decision": o.decision, "score": o.score,
           "decided_by": o.decided_by, "degraded": False, "response": response, **versions,
           "features": scored.matrix_rows()[o.k]}
    acc = {"account_id": o.account, "decision": o.decision, "score": o.score, "t": as_of, "asm": asm,
           "cluster_id": cluster_id, "cluster_size": cluster_size}
    return row, acc
