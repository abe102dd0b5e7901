#!/usr/bin/env python3
"""Journeys (docs/journeys.md) end to end: captures, templates, feeders,
weighted flows, named checks in thresholds, cookies and redirects, each run
by herd against a server that records what it received (json-server with
json_server_mw.js, httpbin under gunicorn, nginx), and each asserted against
that record as well as against herd's --summary-export.

What these tests read from the export (for whoever implements the features):
  metrics.iterations.count, metrics.http_reqs.count, metrics.checks.passes/fails
  metrics["iterations{flow:NAME}"].count   (listed in the plan's thresholds)
  root_group.checks: {NAME: {name, passes, fails}}; a named check is matched
      by its name, alone or after "STEP: " as the older checks are named
  herd.steps[]: {scenario, name, requests, failed}
  herd.scenarios.NAME.iterations
  herd.agents.ID: {name, requests}
  herd.errors_by_kind: {capture_failed: N, check_failed: N}
  herd.thresholds[]: {metric, expr, ok}
Servers and loads are local (127.0.0.1, free ports); every run is bounded by
its iteration counts, maxDuration and a timeout on the herd process.

    HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/journey_test.py [-k NAME]
"""

import collections
import csv
import io
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Httpbin, JsonServer, Nginx, _src_root, check, cookie_value,  # noqa: E402
                     main, note, run_herd)


# --------------------------------------------------------------------------- export helpers


def expect_code(r, want):
    check(r.code == want, "herd exited %d, expected %d%s" % (r.code, want, r.tail()))


def find_step(r, name, scenario=None):
    steps = r.herd().get("steps", [])
    found = [s for s in steps if s.get("name") == name
             and (scenario is None or s.get("scenario") == scenario)]
    check(len(found) == 1, "herd.steps has %d steps named %r%s: %s"
          % (len(found), name, "" if scenario is None else " in scenario " + scenario,
             json.dumps([(s.get("scenario"), s.get("name")) for s in steps])))
    return found[0]


def ok_requests(step):
    """A step's requests that did not fail (herd.steps[].requests - failed)."""
    return step.get("requests", 0) - step.get("failed", 0)


def named_check(r, cname):
    """(passes, fails) of the check named cname in root_group.checks (named
    `cname` or `STEP: cname`), summed over the steps that have it."""
    checks = r.summary.get("root_group", {}).get("checks", {})
    vals = checks.values() if isinstance(checks, dict) else checks
    hits = [c for c in vals if c.get("name") == cname or c.get("name", "").endswith(": " + cname)]
    check(hits, "root_group.checks has no check named %r: %s"
          % (cname, sorted(c.get("name") for c in vals)))
    return sum(c.get("passes", 0) for c in hits), sum(c.get("fails", 0) for c in hits)


def threshold(r, metric):
    """herd.thresholds entries for metric: [(expr, ok)]."""
    rows = [t for t in r.herd().get("thresholds", []) if t.get("metric") == metric]
    check(rows, "herd.thresholds has nothing for %r: %s"
          % (metric, json.dumps(r.herd().get("thresholds"))[:600]))
    return [(t.get("expr"), t.get("ok")) for t in rows]


def errors(r, kind):
    return r.errors_by_kind().get(kind, 0)


def csv_text(header, rows):
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue()


# --------------------------------------------------------------------------- (a)


def test_capture_id_then_read_back():
    """POST /items with a templated body captures $.id; GET /items/{{ id }} reads it back (4 VUs x 10)."""
    vus, iters = 4, 10
    with JsonServer({"items": []}) as js:
        r = run_herd("""
name: capture-read-back
target: %s
scenarios:
  crud:
    executor: per-vu-iterations
    vus: %d
    iterations: %d
    maxDuration: 60s
    flow:
      - post: /items
        name: create
        headers: { X-VU: "{{ __VU }}" }
        json: { name: "item-{{ __VU }}-{{ __ITER }}", vu: "{{ __VU }}", iter: "{{ __ITER }}" }
        checks:
          created: { status: 201 }
        capture:
          id: { json: $.id }
      - think: 1ms..20ms    # lets other VUs' creates land in between
      - get: "/items/{{ id }}"
        name: read
        headers: { X-VU: "{{ __VU }}" }
        checks:
          found: { status: 200 }
          same item: { json: $.name, equals: "item-{{ __VU }}-{{ __ITER }}" }
""" % (js.url, vus, iters), timeout=60)
        expect_code(r, 0)
        items = js.items("items")
        create = find_step(r, "create", "crud")
        check(len(items) == ok_requests(create),
              "json-server holds %d items, herd counts %d successful creates (%s)"
              % (len(items), ok_requests(create), create))
        check(len(items) == vus * iters, "%d items, expected %d" % (len(items), vus * iters))
        names = collections.Counter(i.get("name") for i in items)
        check(all(n == 1 for n in names.values()), "names sent twice: %s"
              % [k for k, n in names.items() if n > 1])
        per_vu = collections.Counter(i.get("vu") for i in items)
        check(len(per_vu) == vus and set(per_vu.values()) == {iters},
              "items per VU %s, expected %d VUs with %d each" % (dict(per_vu), vus, iters))
        check(all(i.get("name") == "item-%s-%s" % (i.get("vu"), i.get("iter")) for i in items),
              "an item's name does not match its vu/iter: %s" % items[:3])
        check(sorted(int(i["iter"]) for i in items) == sorted(list(range(iters)) * vus),
              "__ITER values %s" % sorted(i["iter"] for i in items))

        ids = {i["id"] for i in items}
        log = js.requests()
        posts = [e for e in log if e["method"] == "POST"]
        gets = [e for e in log if e["method"] == "GET"]
        check(len(posts) == vus * iters and len(gets) == vus * iters,
              "server saw %d POST and %d GET, expected %d each" % (len(posts), len(gets),
                                                                  vus * iters))
        last_created = {}  # VU -> id its last POST got
        for e in log:
            vu = e["headers"].get("x-vu")
            if e["method"] == "POST":
                last_created[vu] = e["response"]["id"]
                continue
            m = re.fullmatch(r"/items/(\d+)", e["path"])
            check(m, "GET of %r, expected /items/<id>" % e["url"])
            got = int(m.group(1))
            check(got in ids, "GET /items/%d: no such id in db.json" % got)
            check(e["status"] == 200, "GET %s answered %d" % (e["url"], e["status"]))
            check(last_created.get(vu) == got,
                  "VU %s read id %d but its last create returned %s (captures are per VU)"
                  % (vu, got, last_created.get(vu)))
        read = find_step(r, "read", "crud")
        check(read.get("requests") == len(gets) and read.get("failed") == 0,
              "step read: %s, server saw %d GETs" % (read, len(gets)))
        for cname, want in (("created", len(posts)), ("found", len(gets)), ("same item", len(gets))):
            passes, fails = named_check(r, cname)
            check((passes, fails) == (want, 0), "check %r passes %d fails %d, expected %d / 0"
                  % (cname, passes, fails, want))
        note("created %d items, read each back by its captured id", len(items))


# --------------------------------------------------------------------------- (b)

JOURNEY_USERS = [
    ("ada@example.test", "pw-ada", "Lovelace, Ada"),
    ("grace@example.test", "pw-grace", "Hopper, Grace"),
    ("alan@example.test", "pw-alan", 'Alan "the" Turing'),
    ("edsger@example.test", "pw-edsger", "Dijkstra, Edsger"),
    ("barbara@example.test", "pw-barbara", "Liskov, Barbara"),
    ("donald@example.test", "pw-donald", "Knuth, Donald"),
]


def test_register_login_token_writes_read_back():
    """register (feeder row) -> login -> token -> 3 writes with Bearer token -> read back; 3 VUs x 2."""
    n = len(JOURNEY_USERS)
    with JsonServer({"users": [], "notes": [], "orders": []}, auth=["notes", "orders"]) as js:
        r = run_herd("""
name: journey
target: %s
data:
  users:
    file: users.csv
    order: sequential
    onExhausted: stop
scenarios:
  journey:
    executor: per-vu-iterations
    vus: 3
    iterations: 2
    maxDuration: 60s
    flow:
      - post: /users
        name: register
        json: { email: "{{ users.email }}", password: "{{ users.password }}", name: "{{ users.name }}" }
        checks:
          registered: { status: 201 }
        capture:
          uid: { json: $.id }
      - post: /login
        name: login
        json: { email: "{{ users.email }}", password: "{{ users.password }}" }
        checks:
          logged in: { status: 200 }
        capture:
          token: { json: $.accessToken }
      - post: /notes
        name: write note
        headers: { Authorization: "Bearer {{ token }}" }
        json: { userId: "{{ uid }}", text: "note of {{ users.email }}" }
        checks:
          note created: { status: 201 }
        capture:
          nid: { json: $.id }
      - patch: "/notes/{{ nid }}"
        name: edit note
        headers: { Authorization: "Bearer {{ token }}" }
        json: { text: "edited by {{ users.email }}" }
        checks:
          note edited: { status: 200 }
      - post: /orders
        name: place order
        headers: { Authorization: "Bearer {{ token }}" }
        json: { userId: "{{ uid }}", sku: "{{ randomString(8) }}", qty: 2 }
        checks:
          ordered: { status: 201 }
      - get: /notes
        name: read back
        query: { userId: "{{ uid }}" }
        headers: { Authorization: "Bearer {{ token }}" }
        checks:
          read: { status: 200 }
          edited: { json: "$[0].text", equals: "edited by {{ users.email }}" }
thresholds:
  "checks{check:edited}": ["rate > 0.99"]
""" % js.url, timeout=60, files={"users.csv": csv_text(["email", "password", "name"],
                                                      JOURNEY_USERS)})
        expect_code(r, 0)
        users = js.items("users")
        check(sorted((u["email"], u["password"], u["name"]) for u in users) == sorted(JOURNEY_USERS),
              "registered users %s != the CSV's rows" % [(u.get("email"), u.get("name"))
                                                          for u in users])
        uid_of = {u["email"]: u["id"] for u in users}
        email_of = {u["id"]: u["email"] for u in users}

        logins = js.requests(path="/login")
        check(len(logins) == n and all(e["status"] == 200 for e in logins),
              "logins: %s" % [(e["body"], e["status"]) for e in logins])
        token_user = {e["response"]["accessToken"]: e["body"]["email"] for e in logins}
        check(len(token_user) == n, "%d distinct tokens for %d logins" % (len(token_user), n))

        writes = [e for e in js.requests() if e["method"] in ("POST", "PATCH")
                  and e["path"].split("/")[1] in ("notes", "orders")]
        check(len(writes) == 3 * n, "server saw %d writes, expected %d" % (len(writes), 3 * n))
        uses = collections.Counter()
        for e in writes:
            auth = e["headers"].get("authorization", "")
            check(auth.startswith("Bearer "), "%s %s without a Bearer token: %r"
                  % (e["method"], e["url"], auth))
            tok = auth[len("Bearer "):]
            check(tok in token_user, "%s %s with a token no login issued: %r"
                  % (e["method"], e["url"], tok))
            check(e["status"] in (200, 201), "%s %s answered %d: %s"
                  % (e["method"], e["url"], e["status"], e["response"]))
            uses[tok] += 1
            who = token_user[tok]
            if e["method"] == "POST":
                check(str(e["body"].get("userId")) == str(uid_of[who]),
                      "%s by %s carries userId %s, expected %s"
                      % (e["url"], who, e["body"].get("userId"), uid_of[who]))
            else:
                check(e["body"] == {"text": "edited by " + who},
                      "PATCH %s by %s sent %s" % (e["url"], who, e["body"]))
        check(sorted(uses.values()) == [3] * n,
              "writes per token %s: each iteration's token should carry its 3 writes"
              % sorted(uses.values()))

        reads = js.requests(method="GET", path="/notes")
        check(len(reads) == n, "read back %d times, expected %d" % (len(reads), n))
        for e in reads:
            tok = e["headers"].get("authorization", "")[len("Bearer "):]
            who = token_user.get(tok)
            check(who is not None and e["status"] == 200, "read back %s: %d with %r"
                  % (e["url"], e["status"], tok))
            check(e["url"] == "/notes?userId=%s" % uid_of[who], "read back %s by %s (id %s)"
                  % (e["url"], who, uid_of[who]))
            check(isinstance(e["response"], list) and len(e["response"]) == 1
                  and e["response"][0]["text"] == "edited by " + who,
                  "read back for %s returned %s" % (who, e["response"]))
        notes, orders = js.items("notes"), js.items("orders")
        check(len(notes) == n and len(orders) == n, "db has %d notes, %d orders; expected %d each"
              % (len(notes), len(orders), n))
        check(sorted(email_of[int(x["userId"])] for x in notes) == sorted(uid_of),
              "notes' owners %s" % [x.get("userId") for x in notes])
        check(all(x["text"] == "edited by " + email_of[int(x["userId"])] for x in notes),
              "a note was not edited by its owner: %s" % notes)
        check(all(re.fullmatch(r"[A-Za-z0-9]{8}", x.get("sku", "")) for x in orders),
              "randomString(8) skus: %s" % [x.get("sku") for x in orders])
        unauthorised = [e for e in js.requests() if e["status"] == 401]
        check(not unauthorised, "401s: %s" % unauthorised[:3])
        for cname in ("registered", "logged in", "note created", "note edited", "ordered",
                      "read", "edited"):
            passes, fails = named_check(r, cname)
            check((passes, fails) == (n, 0), "check %r passes %d fails %d, expected %d / 0"
                  % (cname, passes, fails, n))
        check(threshold(r, "checks{check:edited}") == [("rate > 0.99", True)],
              "threshold on checks{check:edited}: %s" % threshold(r, "checks{check:edited}"))
        check(r.metric("iterations")["count"] == n, "iterations %s, expected %d"
              % (r.metric("iterations")["count"], n))


# --------------------------------------------------------------------------- (c)


def test_feeder_split_per_agent_three_agents():
    """300 CSV rows split per-agent over 3 local agents, onExhausted stop: each email POSTed once."""
    rows = [("user%03d@example.test" % i, str(i)) for i in range(300)]
    with JsonServer({"signups": []}) as js:
        r = run_herd("""
name: feeder-split
target: %s
data:
  signups:
    file: signups.csv
    split: per-agent
    order: sequential
    onExhausted: stop
scenarios:
  signup:
    executor: per-vu-iterations
    vus: 6
    iterations: 100
    maxDuration: 60s
    flow:
      - post: /signups
        name: signup
        headers: { X-Agent: "{{ __AGENT }}", X-VU: "{{ __VU }}" }
        json: { email: "{{ signups.email }}", row: "{{ signups.row }}" }
        checks:
          signed up: { status: 201 }
""" % js.url, "--local-agents", "3", "--workers", "1", timeout=90,
            files={"signups.csv": csv_text(["email", "row"], rows)})
        expect_code(r, 0)
        posts = js.requests(method="POST", path="/signups")
        sent = collections.Counter(e["body"]["email"] for e in posts)
        twice = [k for k, v in sent.items() if v > 1]
        check(not twice, "%d emails were sent more than once, e.g. %s" % (len(twice), twice[:5]))
        check(set(sent) <= {e for e, _ in rows}, "emails not in the CSV: %s"
              % sorted(set(sent) - {e for e, _ in rows})[:5])
        # each agent has 2 VUs x 100 iterations for its 100 rows: all are used, once
        check(len(sent) == len(rows), "%d of %d rows were sent" % (len(sent), len(rows)))
        check(len(js.items("signups")) == len(rows), "db.json has %d signups"
              % len(js.items("signups")))
        check(all(e["body"]["email"] == "user%03d@example.test" % int(e["body"]["row"])
                  for e in posts), "email and row of one request come from different rows")
        by_agent = collections.defaultdict(list)
        for e in posts:
            by_agent[e["headers"].get("x-agent")].append(int(e["body"]["row"]))
        check(sorted(by_agent) == ["0", "1", "2"], "__AGENT values seen: %s" % sorted(by_agent))
        for a, got in sorted(by_agent.items()):
            got.sort()
            check(len(got) == 100 and got == list(range(got[0], got[0] + len(got))),
                  "agent %s used %d rows %s..%s, expected one contiguous block of 100"
                  % (a, len(got), got[:3], got[-3:]))
        agents = r.herd().get("agents", {})
        vals = list(agents.values()) if isinstance(agents, dict) else agents
        check(len(vals) == 3 and sorted(a.get("requests") for a in vals) == [100, 100, 100],
              "herd.agents requests %s, expected 100 each"
              % [(a.get("name"), a.get("requests")) for a in vals])
        step = find_step(r, "signup", "signup")
        check(step.get("requests") == len(posts), "step signup: %s, server saw %d"
              % (step, len(posts)))
        check(r.metric("iterations")["count"] == len(rows), "iterations %s, expected %d "
              "(no iteration without a row)" % (r.metric("iterations")["count"], len(rows)))
        note("per agent: %s", {a: (min(g), max(g)) for a, g in sorted(by_agent.items())})


# --------------------------------------------------------------------------- (d)

FLOW_WEIGHTS = {"read": 0.6, "ai": 0.3, "write": 0.1}
# 10,000 iterations, as the issue asks. herd picks flows by smooth weighted
# round robin on each worker (not by a random draw, whose share of "read" would
# stray by 0.49% (one standard deviation) at this count), so the 1% bound holds
# every run; the test also asserts the tighter bound that design promises:
# each flow within one pick per worker and VU of its exact share.
FLOW_ITERATIONS = 10000


def test_weighted_flows_60_30_10():
    """flows read/ai/write weighted 60/30/10: nginx's counts per path within 1% of the total."""
    vus = 8
    with Nginx() as ng:
        r = run_herd("""
name: weighted-flows
target: %s
scenarios:
  mixed:
    executor: per-vu-iterations
    vus: %d
    iterations: %d
    maxDuration: 90s
    flows:
      read:  { weight: 60, steps: [ { get: /read, name: read } ] }
      ai:    { weight: 30, steps: [ { post: /ai, name: ask, json: { q: hi } } ] }
      write: { weight: 10, steps: [ { post: /write, name: write, json: { n: 1 } } ] }
thresholds:
  "iterations{flow:read}": ["count > 0"]
  "iterations{flow:ai}": ["count > 0"]
  "iterations{flow:write}": ["count > 0"]
""" % (ng.url, vus, FLOW_ITERATIONS // vus), "--workers", "2", timeout=100)
        expect_code(r, 0)
        total = ng.access_log_lines()
        check(total == FLOW_ITERATIONS, "nginx saw %d requests, expected %d"
              % (total, FLOW_ITERATIONS))
        seen = {}
        for flow, path, method in (("read", "/read", "GET"), ("ai", "/ai", "POST"),
                                   ("write", "/write", "POST")):
            seen[flow] = ng.access_log_lines(path=path, settle=False)
            check(ng.access_log_lines(path=path, method=method, status=200, settle=False)
                  == seen[flow], "%s: not every request was %s with 200" % (path, method))
            share = seen[flow] / total
            check(abs(share - FLOW_WEIGHTS[flow]) <= 0.01,
                  "flow %s: %d of %d (%.2f%%), expected %.0f%% +- 1%%"
                  % (flow, seen[flow], total, 100 * share, 100 * FLOW_WEIGHTS[flow]))
            # Round robin per worker: a few picks off at most (2 workers).
            check(abs(seen[flow] - FLOW_WEIGHTS[flow] * total) <= 6,
                  "flow %s: %d picks, %.0f exactly: more than round robin allows"
                  % (flow, seen[flow], FLOW_WEIGHTS[flow] * total))
            got = r.metric("iterations{flow:%s}" % flow)["count"]
            check(got == seen[flow], "iterations{flow:%s} = %s, nginx saw %d"
                  % (flow, got, seen[flow]))
        check(sum(seen.values()) == total, "nginx saw other paths")
        check(r.metric("iterations")["count"] == FLOW_ITERATIONS, "iterations %s"
              % r.metric("iterations")["count"])
        note("flows: %s of %d", seen, total)


# --------------------------------------------------------------------------- (e)


def test_cookies_carried_and_captured():
    """/cookies/set then /cookies share the VU's jar; capture {cookie: sid} goes out in a header."""
    vus, iters = 3, 4
    with Httpbin(headers=("cookie", "x-sid", "x-vu")) as hb:
        r = run_herd("""
name: cookies
target: %s
scenarios:
  jar:
    executor: per-vu-iterations
    vus: %d
    iterations: %d
    maxDuration: 60s
    flow:
      - get: /cookies/set
        name: set cookie
        query: { sid: "v{{ __VU }}-{{ __ITER }}" }
        headers: { X-VU: "{{ __VU }}" }
        checks:
          set and followed: { json: $.cookies.sid, equals: "v{{ __VU }}-{{ __ITER }}" }
      - get: /cookies
        name: read cookies
        headers: { X-VU: "{{ __VU }}" }
        checks:
          sid is back: { json: $.cookies.sid, equals: "v{{ __VU }}-{{ __ITER }}" }
        capture:
          sid: { cookie: sid }
      - get: /headers
        name: echo sid
        headers: { X-VU: "{{ __VU }}", X-Sid: "{{ sid }}" }
        checks:
          sid echoed: { json: $.headers.X-Sid, equals: "v{{ __VU }}-{{ __ITER }}" }
""" % (hb.url, vus, iters), timeout=60)
        expect_code(r, 0)
        n = vus * iters
        log = hb.requests()
        # gunicorn logs after answering, from several threads: group by the
        # iteration's sid (unique per VU and iteration), not by log order.
        by_sid = collections.defaultdict(list)
        for e in log:
            if e["path"] == "/cookies/set":
                m = re.fullmatch(r"sid=([^&]*)", e["query"])
                check(m, "/cookies/set with query %r" % e["query"])
                by_sid[m.group(1)].append(e)
            else:
                by_sid[cookie_value(e["cookie"], "sid")].append(e)
        check(None not in by_sid, "requests without the sid cookie: %s"
              % [(e["path"], e["x-vu"]) for e in by_sid.get(None, [])])
        check(len(by_sid) == n, "%d distinct sids, expected %d: %s" % (len(by_sid), n,
                                                                     sorted(by_sid)))
        for sid, es in sorted(by_sid.items()):
            # per iteration: set (302) -> /cookies (the redirect, followed) ->
            # /cookies -> /headers, every one after the set carrying the cookie
            check(sorted((e["path"], e["status"]) for e in es) ==
                  [("/cookies", 200), ("/cookies", 200), ("/cookies/set", 302),
                   ("/headers", 200)],
                  "sid %s: %s" % (sid, sorted((e["path"], e["status"]) for e in es)))
            m = re.fullmatch(r"v(\d+)-(\d+)", sid)
            check(m, "sid %r is not v<VU>-<ITER>" % sid)
            check(all(e["x-vu"] == m.group(1) for e in es),
                  "sid %s went out from VUs %s (jars must be per VU)"
                  % (sid, sorted({e["x-vu"] for e in es})))
            echo = [e for e in es if e["path"] == "/headers"][0]
            check(echo["x-sid"] == sid, "/headers X-Sid %r, expected %s (captured from the jar)"
                  % (echo["x-sid"], sid))
        per_vu = collections.Counter(re.fullmatch(r"v(\d+)-\d+", sid).group(1) for sid in by_sid)
        check(len(per_vu) == vus and set(per_vu.values()) == {iters},
              "iterations per VU %s" % dict(per_vu))
        for cname in ("set and followed", "sid is back", "sid echoed"):
            passes, fails = named_check(r, cname)
            check((passes, fails) == (n, 0), "check %r passes %d fails %d, expected %d / 0"
                  % (cname, passes, fails, n))


def test_redirects_followed_and_not():
    """/redirect/3 followed: 200 after 4 requests per iteration; redirects: 0: one 302, Location captured."""
    vus, iters = 2, 5
    n = vus * iters
    with Httpbin(headers=()) as hb:
        r = run_herd("""
name: redirects
target: %s
scenarios:
  follow:
    executor: per-vu-iterations
    vus: %d
    iterations: %d
    maxDuration: 60s
    flow:
      - get: /redirect/3
        name: followed
        checks:
          landed: { status: 200 }
          on get: { json: $.url, contains: /get }
  nofollow:
    executor: per-vu-iterations
    vus: %d
    iterations: %d
    maxDuration: 60s
    flow:
      - get: /redirect/4
        name: not followed
        redirects: 0
        checks:
          moved: { status: 302 }
          has location: { header: Location, equals: /relative-redirect/3 }
        capture:
          next: { header: Location }
      - get: "{{ next }}"
        name: next hop
        redirects: 0
        checks:
          moved again: { status: 302 }
""" % (hb.url, vus, iters, vus, iters), timeout=60)
        expect_code(r, 0)
        counts = collections.Counter((e["path"], e["status"]) for e in hb.requests())
        want = {
            ("/redirect/3", 302): n, ("/relative-redirect/2", 302): n,
            ("/relative-redirect/1", 302): n, ("/get", 200): n,    # 4 per followed iteration
            ("/redirect/4", 302): n, ("/relative-redirect/3", 302): n,  # 1 + the captured hop
        }
        check(dict(counts) == want, "gunicorn saw %s, expected %s" % (dict(counts), want))
        for cname in ("landed", "on get", "moved", "has location", "moved again"):
            passes, fails = named_check(r, cname)
            check((passes, fails) == (n, 0), "check %r passes %d fails %d, expected %d / 0"
                  % (cname, passes, fails, n))
        check(find_step(r, "not followed", "nofollow").get("requests") == n,
              "step 'not followed': %s" % find_step(r, "not followed", "nofollow"))


# --------------------------------------------------------------------------- (f)


def test_missing_capture_ends_iteration():
    """capture json $.nope finds nothing: capture_failed, the iteration ends (counted); continue goes on."""
    vus, iters = 2, 5
    n = vus * iters
    with JsonServer({"items": [], "audit": [], "things": []}) as js:
        r = run_herd("""
name: capture-fail
target: %s
scenarios:
  strict:
    executor: per-vu-iterations
    vus: %d
    iterations: %d
    maxDuration: 60s
    flow:
      - post: /items
        name: create
        json: { kind: strict, iter: "{{ __ITER }}" }
        capture:
          nope: { json: $.nope }
      - get: "/items/{{ nope }}"
        name: never sent
      - post: /audit
        name: never sent either
        json: { kind: strict }
  lenient:
    executor: per-vu-iterations
    vus: %d
    iterations: %d
    maxDuration: 60s
    flow:
      - post: /things
        name: create thing
        json: { kind: lenient }
        capture:
          nope: { json: $.nope }
        onCaptureFail: continue
      - post: /things
        name: after
        json: { kind: after }
""" % (js.url, vus, iters, vus, iters), timeout=60)
        expect_code(r, 0)
        log = js.requests()
        items_posts = [e for e in log if e["method"] == "POST" and e["path"] == "/items"]
        check(len(items_posts) == n and all(e["status"] == 201 for e in items_posts),
              "server saw %d POST /items, expected %d answered 201" % (len(items_posts), n))
        after = [e for e in log if e["path"].startswith("/items/") or e["path"] == "/audit"]
        check(not after, "steps after the failed capture were sent: %s"
              % [(e["method"], e["url"]) for e in after][:5])
        check(len(js.items("items")) == n, "db.json has %d items" % len(js.items("items")))
        kinds = collections.Counter(e["body"]["kind"] for e in log if e["path"] == "/things")
        check(kinds == {"lenient": n, "after": n}, "onCaptureFail: continue: server saw %s, "
              "expected %d of each" % (dict(kinds), n))
        check(errors(r, "capture_failed") == 2 * n, "errors_by_kind.capture_failed %s, expected "
              "%d (%s)" % (errors(r, "capture_failed"), 2 * n, r.errors_by_kind()))
        create = find_step(r, "create", "strict")
        check(create.get("requests") == n and create.get("failed") == n,
              "step create: %s, expected %d requests all failed (capture)" % (create, n))
        scen = r.herd().get("scenarios", {})
        check(scen.get("strict", {}).get("iterations") == n,
              "herd.scenarios.strict.iterations %s, expected %d (ended iterations still count)"
              % (scen.get("strict", {}).get("iterations"), n))
        check(r.metric("iterations")["count"] == 2 * n, "iterations %s, expected %d"
              % (r.metric("iterations")["count"], 2 * n))
        check(r.count() == n + 2 * n, "http_reqs %d, expected %d (the server's requests)"
              % (r.count(), 3 * n))


# --------------------------------------------------------------------------- (g)

CHECKS_PLAN = """
name: named-checks
target: %s
scenarios:
  make:
    executor: per-vu-iterations
    vus: 2
    iterations: 5
    maxDuration: 60s
    flow:
      - post: /items
        name: create
        json: { name: "{{ uuid() }}" }
        checks:
          created: { status: %d }
          has_id: { json: $.id }
thresholds:
  "checks{check:created}": ["rate > 0.99"]
  "checks{check:has_id}": ["rate > 0.99"]
  checks: ["rate > 0.4"]
"""


def test_named_check_threshold_pass_and_fail():
    """checks{check:created} rate > 0.99: exit 0 when created is 201; 99 when the check wants 200."""
    with JsonServer({"items": []}) as js:
        r = run_herd(CHECKS_PLAN % (js.url, 201), timeout=60)
        expect_code(r, 0)
        made = len(js.items("items"))
        check(made == 10, "db.json has %d items, expected 10" % made)
        check(named_check(r, "created") == (made, 0), "check created %s, expected %d / 0"
              % (named_check(r, "created"), made))
        check(threshold(r, "checks{check:created}") == [("rate > 0.99", True)],
              "threshold %s" % threshold(r, "checks{check:created}"))
        uuids = [i["name"] for i in js.items("items")]
        check(all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                               r"[0-9a-f]{12}", u) for u in uuids) and len(set(uuids)) == made,
              "uuid() values: %s" % uuids[:3])

        r = run_herd(CHECKS_PLAN % (js.url, 200), timeout=60)
        expect_code(r, 99)
        made2 = len(js.items("items")) - made
        check(made2 == 10, "second run created %d items, expected 10 (a failed check does "
              "not stop the iteration)" % made2)
        check(named_check(r, "created") == (0, made2), "check created %s, expected 0 / %d"
              % (named_check(r, "created"), made2))
        check(named_check(r, "has_id") == (made2, 0), "check has_id %s, expected %d / 0"
              % (named_check(r, "has_id"), made2))
        check(threshold(r, "checks{check:created}") == [("rate > 0.99", False)],
              "threshold on created %s, expected failed" % threshold(r, "checks{check:created}"))
        check(threshold(r, "checks{check:has_id}") == [("rate > 0.99", True)],
              "threshold on has_id %s, expected passed" % threshold(r, "checks{check:has_id}"))
        check(threshold(r, "checks") == [("rate > 0.4", True)],
              "threshold on all checks %s, expected passed (half pass)" % threshold(r, "checks"))
        check(errors(r, "check_failed") == made2, "errors_by_kind.check_failed %s, expected %d"
              % (errors(r, "check_failed"), made2))


# --------------------------------------------------------------------------- example


def test_example_journey_runs():
    """examples/journey.yaml (target rewritten to a json-server on a free port) passes its thresholds."""
    src = os.path.join(_src_root(), "examples")
    with open(os.path.join(src, "journey.yaml")) as f:
        plan = f.read()
    with open(os.path.join(src, "users.csv")) as f:
        users_csv = f.read()
    rows = list(csv.DictReader(io.StringIO(users_csv)))
    with JsonServer({"users": [], "notes": [], "orders": [], "items": []},
                    auth=["notes", "orders"]) as js:
        plan2, k = re.subn(r"(?m)^target: .*$", "target: " + js.url, plan)
        check(k == 1, "examples/journey.yaml has %d target lines" % k)
        r = run_herd(plan2, timeout=90, files={"users.csv": users_csv})
        expect_code(r, 0)
        users = js.items("users")
        check(sorted(u["email"] for u in users) == sorted(x["email"] for x in rows),
              "registered %d users, users.csv has %d" % (len(users), len(rows)))
        check(len(js.items("notes")) == len(rows) and len(js.items("orders")) == len(rows),
              "notes %d orders %d, expected %d each" % (len(js.items("notes")),
                                                        len(js.items("orders")), len(rows)))
        check(not [e for e in js.requests() if e["status"] >= 400],
              "requests that failed on the server: %s"
              % [(e["method"], e["url"], e["status"]) for e in js.requests()
                 if e["status"] >= 400][:5])
        added = len(js.items("items"))
        check(r.metric("iterations{flow:add}")["count"] == added,
              "iterations{flow:add} %s, json-server has %d items"
              % (r.metric("iterations{flow:add}")["count"], added))


def _example(name, target):
    """An example plan with its target rewritten, and the files beside it."""
    src = os.path.join(_src_root(), "examples")
    with open(os.path.join(src, name)) as f:
        plan, k = re.subn(r"(?m)^target: .*$", "target: " + target, f.read())
    check(k == 1, "examples/%s has %d target lines" % (name, k))
    return plan


def test_example_details_runs():
    """examples/details.yaml against httpbin: every check passes and httpbin saw
    exactly the requests herd counted, the followed redirects included."""
    src = os.path.join(_src_root(), "examples")
    with open(os.path.join(src, "payload.json")) as f:
        payload = f.read()
    with Httpbin() as hb:
        r = run_herd(_example("details.yaml", hb.url), timeout=90, files={"payload.json": payload})
        expect_code(r, 0)
        seen = hb.requests()
        reqs = r.metric("http_reqs")["count"]
        iters = r.metric("iterations")["count"]
        check(iters == 10, "iterations %s, expected 10" % iters)
        # /redirect/3 costs 4 requests on the server, one request in herd.
        check(len(seen) == reqs + 3 * iters, "httpbin saw %d requests, herd counted %d (+%d redirects)"
              % (len(seen), reqs, 3 * iters))
        check(r.metric("checks")["fails"] == 0, "failed checks: %s" % r.metric("checks"))
        puts = hb.requests(method="PUT", path="/put")
        check(len(puts) == iters, "PUT /put %d times, expected %d" % (len(puts), iters))


def test_example_phases_runs():
    """examples/phases.yaml against nginx: the five named stages show on the
    live line and nginx's count equals herd's."""
    with Nginx() as ng:
        r = run_herd(_example("phases.yaml", ng.url), timeout=120, quiet=False)
        expect_code(r, 0)
        for stage in ("warm-up", "normal", "peak", "stress", "recovery"):
            check(stage in r.stdout, "stage %r not on the live line" % stage)
        lines = ng.access_log_lines()
        check(lines == r.metric("http_reqs")["count"], "nginx %d lines, herd %s requests"
              % (lines, r.metric("http_reqs")["count"]))
        flows = {f: r.metric("iterations{flow:%s}" % f) for f in ("visitor", "member", "power")}
        total = sum(v["count"] for v in flows.values() if v)
        check(total == r.metric("iterations")["count"], "flows %s vs iterations %s"
              % (flows, r.metric("iterations")))


if __name__ == "__main__":
    main([
        test_capture_id_then_read_back,
        test_register_login_token_writes_read_back,
        test_feeder_split_per_agent_three_agents,
        test_weighted_flows_60_30_10,
        test_cookies_carried_and_captured,
        test_redirects_followed_and_not,
        test_missing_capture_ends_iteration,
        test_named_check_threshold_pass_and_fail,
        test_example_journey_runs,
        test_example_details_runs,
        test_example_phases_runs,
    ])
