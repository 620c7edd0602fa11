"""The console's pages. Thin: read through storage.console, act through riskengine.analyst."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from riskengine import analyst
from riskengine.errors import RiskengineError
from riskengine.storage import console as reads
from riskengine.storage import policies
from riskengine.storage import users as user_store
from riskengine.users import authenticate
from riskengine.web.console import present
from riskengine.web.console.session import (
    can,
    load_user,
    login_allowed,
    role,
    security_headers,
    sign_in,
    sign_out,
)

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
bp.before_request(load_user)
bp.after_request(security_headers)
DAY = 86400.0
QUEUE_PAGE = 50


@bp.record_once
def _filters(state):
    present.install(state.app.jinja_env)
    state.app.jinja_env.globals.update(can=can, email_for=present.email_for)


def _runtime():
    return current_app.extensions["riskengine"]


@contextmanager
def _reads() -> Iterator:
    """A connection for a page's reads, under the console's own statement budget."""
    with _runtime().db.connect() as conn, reads.page_budget(conn):
        yield conn


def _page(template: str, code: int = 200, **ctx):
    partial = request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == "main"
    return render_template(template, partial=partial, user=g.user, **ctx), code


@bp.errorhandler(RiskengineError)
def _bad_input(e: RiskengineError):
    return render_template("console/error.html", status=400, message=e.message, field=e.field, user=g.get("user")), 400


@bp.errorhandler(reads.ReadsTooSlow)
def _too_slow(e: reads.ReadsTooSlow):
    return render_template("console/error.html", status=503, message=f"this page's reads took too long ({e}); "
                           "try a shorter period or a narrower filter", user=g.get("user")), 503


@bp.errorhandler(CSRFError)
def _csrf(e: CSRFError):
    return render_template("console/error.html", status=400, message=f"the form expired or was not sent from "
                           f"this console ({e.description}); reload the page and try again", user=g.get("user")), 400


@bp.errorhandler(HTTPException)
def _http(e: HTTPException):
    return render_template("console/error.html", status=e.code, message=e.description, user=g.get("user")), e.code


# ---------------------------------------------------------------- sign-in

@bp.route("/login", methods=["GET", "POST"])
def login():
    nxt = request.values.get("next") or url_for("console.overview")
    if not nxt.startswith("/console"):          # never redirect off the console
        nxt = url_for("console.overview")
    if request.method == "GET":
        return _page("console/login.html", next=nxt, error=None)
    name, password = request.form.get("name", ""), request.form.get("password", "")
    limited = login_allowed(name)
    if limited:
        return _page("console/login.html", 429, next=nxt, error=limited)
    user = authenticate(_runtime().db, name, password)
    if user is None:
        return _page("console/login.html", 401, next=nxt, error="unknown user or wrong password")
    sign_in(user)
    return redirect(nxt)


@bp.post("/logout")
def logout():
    sign_out()
    return redirect(url_for("console.login"))


# ---------------------------------------------------------------- overview

@bp.get("/")
def overview():
    days = _number("days", 7, 1, 90)
    now = time.time()
    bucket = 3600.0 if days <= 2 else DAY
    with _reads() as conn:
        data = reads.overview(conn, now - days * DAY, bucket)
    slots = sorted({r[2] for r in data["rows"]})
    series: dict[str, list[int]] = {}
    total = degraded = 0
    outcomes: dict[tuple, int] = {}
    for event, decision, slot, is_degraded, n in data["rows"]:
        key = f"{event} · {decision}"
        series.setdefault(key, [0] * len(slots))[slots.index(slot)] += n
        total += n
        degraded += n if is_degraded else 0
        outcomes[(event, decision)] = outcomes.get((event, decision), 0) + n
    chart = {"labels": [datetime.fromtimestamp(s * bucket, UTC).strftime("%m-%d %H:00" if bucket < DAY else "%Y-%m-%d")
                        for s in slots],
             "series": [{"label": k, "data": v} for k, v in sorted(series.items())]}
    rt = _runtime()
    return _page("console/overview.html", days=days, chart=json.dumps(chart), total=total, degraded=degraded,
                 outcomes=sorted(outcomes.items()), versions=data["versions"], sample=data["sample"],
                 top_reasons=data["top_reasons"], runs=data["runs"],
                 model_version=rt.model.version if rt.model else None,
                 policy_version=rt.policy.version)


def _number(name: str, default: float, least: float, most: float) -> float:
    raw = request.values.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise RiskengineError(f"{name}: not a number: {raw!r}", field=name) from None
    if not least <= value <= most:
        raise RiskengineError(f"{name}: must be between {least:g} and {most:g}", field=name)
    return value


# ---------------------------------------------------------------- review queue

@bp.get("/queue")
def queue():
    args = request.args
    flt = reads.QueueFilter(reason=args.get("reason") or None, event=args.get("event") or None,
                            country=args.get("country") or None, cluster=args.get("cluster") or None)
    sort = args.get("sort", "score")
    if sort not in reads.QUEUE_SORTS:
        raise RiskengineError(f"sort: must be one of {', '.join(reads.QUEUE_SORTS)}", field="sort")
    after = _after(args.get("after"), sort)
    with _reads() as conn:
        rows = reads.review_queue(conn, flt, sort, after, QUEUE_PAGE + 1)
    more = len(rows) > QUEUE_PAGE
    rows = rows[:QUEUE_PAGE]
    next_key = json.dumps(rows[-1]["key"], separators=(",", ":")) if more and rows else None
    rows_only = request.headers.get("HX-Target") in ("queue-rows", "queue-more")
    template = "console/queue_rows.html" if rows_only else "console/queue.html"
    return _page(template, rows=rows, flt=flt, sort=sort, next_key=next_key, first=after is None)


def _after(raw: str | None, sort: str):
    if not raw:
        return None
    try:
        key = json.loads(raw)
        if isinstance(key, list) and len(key) == (2 if sort == "recent" else 3):
            return tuple(key)
    except ValueError:
        pass
    raise RiskengineError("after: not a key from the page before", field="after")


# ---------------------------------------------------------------- account

@bp.get("/accounts/<path:account_id>")
def account(account_id: str):
    with _reads() as conn:
        detail = reads.account_detail(conn, account_id)
    if detail is None:
        return _page("console/error.html", 404, status=404, message=f"no account {account_id!r}")
    phones: dict[str, None] = {}
    cards: dict[str, None] = {}
    for a in detail["assessments"]:
        a["signals"] = present.signals_for_display(a["signals"])
        if a["phone_last4"]:
            phones[present.phone(a["phone_last4"])] = None
        if a["card_last4"]:
            cards[present.card(a["card_last4"], a["card_brand"])] = None
    outcomes: dict[str, list] = {}
    for o in detail["outcomes"]:
        outcomes.setdefault(o["assessment_id"], []).append(o)
    on_list = _listed(account_id)
    return _page("console/account.html", d=detail, acc=detail["account"], outcomes=outcomes, on_list=on_list,
                 hours=json.dumps(detail["usage"]["hours"]), phones=list(phones), cards=list(cards))


def _listed(account_id: str) -> str | None:
    policy = _runtime().policy
    if account_id in policy.allow.accounts:
        return "allow"
    if account_id in policy.deny.accounts:
        return "deny"
    return None


@bp.post("/accounts/<path:account_id>/label")
@role("analyst")
def label_account(account_id: str):
    analyst.label(_runtime(), g.user["name"], [account_id], request.form.get("label", ""), request.form.get("note"))
    if request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") != "main":
        return ""             # from the queue: the labelled row leaves it
    return redirect(_next(url_for("console.account", account_id=account_id)))


@bp.post("/accounts/<path:account_id>/list")
@role("analyst")
def list_account(account_id: str):
    analyst.put_on_list(_runtime(), g.user["name"], [account_id], request.form.get("list", ""),
                        request.form.get("note", ""))
    return redirect(url_for("console.account", account_id=account_id))


def _next(default: str) -> str:
    nxt = request.form.get("next") or ""
    return nxt if nxt.startswith("/console") else default


# ---------------------------------------------------------------- cluster

@bp.get("/clusters/<cluster_id>")
def cluster(cluster_id: str):
    with _reads() as conn:
        detail = reads.cluster_detail(conn, cluster_id)
    if not detail["members"]:
        return _page("console/error.html", 404, status=404, message=f"no cluster {cluster_id!r}")
    graph = _graph(detail)
    return _page("console/cluster.html", c=detail, graph=json.dumps(graph))


def _graph(detail: dict) -> dict:
    """Cytoscape elements: accounts and the values they share, an edge per use."""
    nodes = [{"data": {"id": f"a:{m['id']}", "label": m["id"], "kind": "account",
                       "decision": m["last_decision"] or "", "flag": m["label"] or ""}} for m in detail["members"]]
    edges = []
    for i, s in enumerate(detail["shared"][:200]):
        node = f"v:{i}"
        shown = present.link_value(s["kind"], s["value"], s.get("shown"))
        nodes.append({"data": {"id": node, "label": f"{s['kind']} {shown}",
                               "kind": s["kind"]}})
        edges += [{"data": {"id": f"{node}-{a}", "source": node, "target": f"a:{a}"}} for a in s["accounts"]]
    return {"elements": nodes + edges}


@bp.post("/clusters/<cluster_id>/bulk")
@role("analyst")
def cluster_bulk(cluster_id: str):
    form = request.form
    action = form.get("action", "")
    if action not in ("fraud", "legit", "block"):
        raise RiskengineError("action: must be fraud, legit or block", field="action")
    with _reads() as conn:
        members = [m["id"] for m in reads.cluster_detail(conn, cluster_id)["members"]]
    chosen = [a for a in form.getlist("account") if a in members] if form.getlist("account") else members
    if not chosen:
        raise RiskengineError("account: choose at least one member", field="account")
    if form.get("confirm") != "yes":
        return _page("console/confirm.html", cluster_id=cluster_id, action=action, accounts=chosen,
                     note=form.get("note", ""))
    note = form.get("note") or f"cluster {cluster_id}"
    if action == "block":
        analyst.put_on_list(_runtime(), g.user["name"], chosen, "deny", f"block cluster {cluster_id}: {note}")
    else:
        analyst.label(_runtime(), g.user["name"], chosen, action, note, action="bulk_label")
    return redirect(url_for("console.cluster", cluster_id=cluster_id))


# ---------------------------------------------------------------- lists and policy

@bp.get("/policy")
def policy():
    rt = _runtime()
    version_id, body = rt.policies.body()
    with _reads() as conn:
        history = policies.policy_history(conn)
    return _page("console/policy.html", body=body, version_id=version_id, history=history,
                 body_json=json.dumps(body, indent=2, sort_keys=True), in_force=rt.policy.version,
                 list_fields=analyst.LIST_FIELDS, region_signals=analyst.REGION_SIGNALS)


@bp.post("/policy/lists")
@role("analyst")
def policy_lists():
    rt = _runtime()
    _, body = rt.policies.body()
    new = analyst.parse_list_form(request.form, body)
    analyst.publish(rt, g.user["name"], new, request.form.get("note", ""), "lists.edit", "lists")
    return redirect(url_for("console.policy"))


@bp.post("/policy/publish")
@role("admin")
def policy_publish():
    body = _body_from_form()
    analyst.publish(_runtime(), g.user["name"], body, request.form.get("note", ""))
    return redirect(url_for("console.policy"))


def _body_from_form() -> dict:
    raw = request.form.get("policy", "")
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise RiskengineError(f"policy: not JSON: {e}", field="policy") from None
    if not isinstance(body, dict):
        raise RiskengineError("policy: must be a JSON object", field="policy")
    return body


@bp.post("/policy/rollback/<int:version_id>")
@role("admin")
def policy_rollback(version_id: int):
    analyst.rollback(_runtime(), g.user["name"], version_id, request.form.get("note", ""))
    return redirect(url_for("console.policy"))


@bp.get("/policy/versions/<int:version_id>")
def policy_version(version_id: int):
    with _reads() as conn:
        row = policies.policy_version(conn, version_id)
    if row is None:
        return _page("console/error.html", 404, status=404, message=f"no policy version {version_id}")
    return _page("console/policy_version.html", v=row, body_json=json.dumps(row["body"], indent=2, sort_keys=True))


# ---------------------------------------------------------------- what-if

@bp.route("/whatif", methods=["GET", "POST"])
def whatif():
    rt = _runtime()
    _, body = rt.policies.body()
    if request.method == "GET":
        return _page("console/whatif.html", body_json=json.dumps(body, indent=2, sort_keys=True), result=None,
                     days=7, seconds=None)
    if not can("analyst"):
        return _page("console/error.html", 403, status=403, message="this needs the analyst role")
    candidate = _body_from_form()
    days = _number("days", 7, 0.01, 366)
    now = time.time()
    started = time.perf_counter()
    result = analyst.run_whatif(rt, g.user["name"], candidate, now - days * DAY, now)
    return _page("console/whatif.html", body_json=request.form.get("policy", ""), result=result, days=days,
                 seconds=time.perf_counter() - started,
                 by_event=sorted(result.by_event.items()), by_decider=result.by_decider.most_common(20),
                 by_label=sorted(result.by_label.items()))


# ---------------------------------------------------------------- audit

@bp.get("/audit")
@role("admin")
def audit():
    before = request.args.get("before", type=int)
    with _reads() as conn:
        entries = user_store.audit_page(conn, before)
    return _page("console/audit.html", entries=entries,
                 next_before=entries[-1]["id"] if len(entries) == 100 else None)
