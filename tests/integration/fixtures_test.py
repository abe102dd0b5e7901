#!/usr/bin/env python3
"""Self-test of the server fixtures in harness.py that herd's journey tests
use: json-server (with json_server_mw.js) and httpbin under gunicorn, plus the
nginx paths of the weighted-flow test. Real requests with urllib to
127.0.0.1 only, checked against what each server recorded. Needs no herd.

    python3 tests/integration/fixtures_test.py [-k NAME]
"""

import json
import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
import http.cookiejar

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Fail, Httpbin, JsonServer, Nginx, Skip, check, cookie_value,  # noqa: E402
                     local_opener, main, note)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def call(url, method="GET", data=None, json_body=None, headers=None, opener=None):
    """(status, headers, body text) of one request; no exception on 4xx/5xx."""
    headers = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(data, dict):
        data = urllib.parse.urlencode(data).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with (opener or local_opener()).open(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def port_closed(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def pid_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st[st.rindex(")") + 2] == "Z"
    except OSError:
        return True


# --------------------------------------------------------------------------- json-server


def test_json_server_post_creates_item_in_db():
    """POST /items returns the created object with an id; db.json holds it; GET by id reads it."""
    with JsonServer({"items": [], "users": []}) as js:
        check(js.items("items") == [], "seeded items not empty: %s" % js.items("items"))
        st, _, body = call(js.url + "/items", "POST", json_body={"name": "first", "qty": 2})
        check(st == 201, "POST /items: %d %s" % (st, body))
        created = json.loads(body)
        check(created.get("name") == "first" and "id" in created,
              "POST /items answered %s, expected the object with an id" % created)
        st2, _, body2 = call(js.url + "/items", "POST", json_body={"name": "second"})
        second = json.loads(body2)
        check(st2 == 201 and second["id"] != created["id"], "second POST: %d %s" % (st2, body2))
        items = js.items("items")
        check([i.get("name") for i in items] == ["first", "second"],
              "db.json items %s, expected first and second" % items)
        check({i["id"] for i in items} == {created["id"], second["id"]},
              "db.json ids %s != answered ids" % [i["id"] for i in items])
        st, _, body = call(js.url + "/items/%s" % created["id"])
        check(st == 200 and json.loads(body) == created, "GET by id: %d %s" % (st, body))
        st, _, _ = call(js.url + "/items/999999")
        check(st == 404, "GET of a missing id: %d, expected 404" % st)
        note("json-server on %s: created ids %s, %s", js.url, created["id"], second["id"])


def test_json_server_seed_and_form_body():
    """Seeded collections are served; a urlencoded form body is stored field by field."""
    seed = {"items": [{"id": 7, "name": "seeded"}], "users": [], "notes": []}
    with JsonServer(seed) as js:
        st, _, body = call(js.url + "/items")
        check(st == 200 and json.loads(body) == seed["items"], "GET /items: %d %s" % (st, body))
        st, _, body = call(js.url + "/items", "POST", data={"name": "from form", "qty": "3"})
        check(st == 201, "POST form: %d %s" % (st, body))
        row = json.loads(body)
        check(row.get("name") == "from form" and row.get("qty") == "3" and row.get("id") == 8,
              "form item %s, expected name/qty and id 8 (after seeded 7)" % row)
        check(len(js.items("items")) == 2 and js.items("notes") == [],
              "db.json: %s" % js.db())
        log = js.requests(method="POST")
        check(len(log) == 1 and log[0]["headers"].get("content-type", "").startswith(
            "application/x-www-form-urlencoded"), "log of the form POST: %s" % log)
        check(log[0]["body"] == {"name": "from form", "qty": "3"},
              "logged body %s is not what was sent (the id must not leak in)" % log[0]["body"])


def test_json_server_request_log():
    """The middleware logs one line per request, in order, with headers, body, status and response."""
    with JsonServer({"items": []}) as js:
        call(js.url + "/items", "POST", json_body={"n": 1}, headers={"X-Vu": "3"})
        call(js.url + "/items/1", headers={"Authorization": "Bearer nothing"})
        call(js.url + "/items?n=1")
        call(js.url + "/nowhere/5")
        log = js.requests()
        check(len(log) == 4, "middleware logged %d lines, expected 4: %s" % (len(log), log))
        check([e["seq"] for e in log] == [1, 2, 3, 4], "seq %s" % [e["seq"] for e in log])
        check([(e["method"], e["path"], e["status"]) for e in log] ==
              [("POST", "/items", 201), ("GET", "/items/1", 200), ("GET", "/items", 200),
               ("GET", "/nowhere/5", 404)],
              "logged %s" % [(e["method"], e["path"], e["status"]) for e in log])
        check(log[0]["body"] == {"n": 1} and log[0]["response"] == {"n": 1, "id": 1},
              "POST body %s response %s" % (log[0]["body"], log[0]["response"]))
        check(log[0]["headers"].get("x-vu") == "3", "x-vu header %s" % log[0]["headers"])
        check(log[1]["headers"].get("authorization") == "Bearer nothing",
              "authorization header %s" % log[1]["headers"])
        check(log[2]["url"] == "/items?n=1" and log[2]["response"] == [{"n": 1, "id": 1}],
              "query request %s" % log[2])
        check(js.requests(method="GET", prefix="/items") == log[1:3], "filters")


def test_json_server_login_and_guarded_collection():
    """POST /login issues a token to a registered user only; a guarded collection needs it."""
    with JsonServer({"users": [], "notes": []}, auth=["notes"]) as js:
        st, _, body = call(js.url + "/login", "POST",
                           json_body={"email": "a@example.test", "password": "pw"})
        check(st == 401, "login before register: %d %s" % (st, body))
        st, _, body = call(js.url + "/users", "POST",
                           json_body={"email": "a@example.test", "password": "pw"})
        check(st == 201, "register: %d %s" % (st, body))
        uid = json.loads(body)["id"]
        st, _, body = call(js.url + "/login", "POST",
                           json_body={"email": "a@example.test", "password": "wrong"})
        check(st == 401, "login with a wrong password: %d %s" % (st, body))
        st, _, body = call(js.url + "/login", "POST",
                           json_body={"email": "a@example.test", "password": "pw"})
        check(st == 200, "login: %d %s" % (st, body))
        token = json.loads(body).get("accessToken", "")
        check(token.startswith("tok-"), "accessToken %r" % token)
        check(json.loads(body).get("user") == {"id": uid, "email": "a@example.test"},
              "login user %s" % body)
        st, _, body = call(js.url + "/notes", "POST", json_body={"text": "x"})
        check(st == 401, "note without a token: %d %s" % (st, body))
        st, _, body = call(js.url + "/notes", "POST", json_body={"text": "x"},
                           headers={"Authorization": "Bearer tok-0-forged"})
        check(st == 401, "note with a forged token: %d %s" % (st, body))
        st, _, body = call(js.url + "/notes", "POST", json_body={"text": "x", "userId": uid},
                           headers={"Authorization": "Bearer " + token})
        check(st == 201, "note with the token: %d %s" % (st, body))
        check(len(js.items("notes")) == 1, "notes in db: %s (only the authorised one)"
              % js.items("notes"))
        notes = js.requests(path="/notes")
        check([(e["status"], e["token_user"]) for e in notes] ==
              [(401, None), (401, None), (201, "a@example.test")],
              "notes log %s" % [(e["status"], e["token_user"]) for e in notes])
        logins = js.requests(path="/login")
        check([e["status"] for e in logins] == [401, 401, 200], "login log %s" % logins)
        check(logins[2]["response"]["accessToken"] == token, "logged token")
        st, _, _ = call(js.url + "/items")
        check(st == 404, "unguarded unknown collection: %d" % st)


def test_json_server_stops_by_pid():
    """After the with block the server process is gone and its port is closed."""
    with JsonServer() as js:
        pid, port = js.proc.pid, js.port
        check(not port_closed(port), "json-server port closed while running")
    check(pid_gone(pid), "json-server pid %d still running" % pid)
    check(port_closed(port), "port %d still accepts connections" % port)


def test_missing_server_skips_outside_ci_fails_in_ci():
    """json-server absent: Skip with the reason outside CI, Fail under CI=true."""
    saved = {k: os.environ.get(k) for k in ("HERD_JSON_SERVER", "CI")}
    try:
        os.environ["HERD_JSON_SERVER"] = "/nonexistent/json-server/bin.js"
        os.environ.pop("CI", None)
        try:
            with JsonServer():
                raise Fail("JsonServer started without json-server")
        except Skip as e:
            check("deps.sh" in str(e) and "json-server" in str(e), "skip reason: %s" % e)
        os.environ["CI"] = "true"
        try:
            with JsonServer():
                raise Fail("JsonServer started without json-server")
        except Skip as e:
            raise Fail("skipped under CI instead of failing: %s" % e)
        except Fail as e:
            check("not installed" in str(e), "CI failure message: %s" % e)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --------------------------------------------------------------------------- httpbin


def test_httpbin_cookies_set_then_read():
    """/cookies/set?sid=abc sets the cookie (302 to /cookies); /cookies with the jar returns it."""
    with Httpbin() as hb:
        jar = http.cookiejar.CookieJar()
        op = local_opener(urllib.request.HTTPCookieProcessor(jar))
        st, _, body = call(hb.url + "/cookies/set?sid=abc", opener=op)
        check(st == 200 and json.loads(body) == {"cookies": {"sid": "abc"}},
              "followed /cookies/set: %d %s" % (st, body))
        st, _, body = call(hb.url + "/cookies", opener=op)
        check(st == 200 and json.loads(body)["cookies"].get("sid") == "abc",
              "/cookies: %d %s" % (st, body))
        log = hb.requests()
        check([(e["method"], e["path"], e["status"]) for e in log] ==
              [("GET", "/cookies/set", 302), ("GET", "/cookies", 200), ("GET", "/cookies", 200)],
              "gunicorn log %s" % [(e["method"], e["path"], e["status"]) for e in log])
        check(log[0]["query"] == "sid=abc" and log[0]["cookie"] == "",
              "first request %s" % log[0])
        check(all(cookie_value(e["cookie"], "sid") == "abc" for e in log[1:]),
              "cookie headers %s" % [e["cookie"] for e in log[1:]])


def test_httpbin_redirects():
    """/redirect/3 followed is 4 requests ending 200; not followed it is one 302 with Location."""
    with Httpbin() as hb:
        st, _, body = call(hb.url + "/redirect/3")
        check(st == 200 and json.loads(body)["url"].endswith("/get"), "followed: %d %s" % (st, body))
        log = hb.requests()
        check([(e["path"], e["status"]) for e in log] ==
              [("/redirect/3", 302), ("/relative-redirect/2", 302),
               ("/relative-redirect/1", 302), ("/get", 200)],
              "followed redirect log %s" % [(e["path"], e["status"]) for e in log])
        st, headers, _ = call(hb.url + "/redirect/3", opener=local_opener(NoRedirect()))
        check(st == 302 and headers.get("Location") == "/relative-redirect/2",
              "not followed: %d Location %s" % (st, headers.get("Location")))
        check(len(hb.requests()) == 5, "log has %d lines, expected 5" % len(hb.requests()))


def test_httpbin_echo_endpoints():
    """/anything, /post, /headers and /response-headers echo what was sent; the log has the headers."""
    with Httpbin() as hb:
        st, _, body = call(hb.url + "/anything/x?a=1", "POST", data={"q": "1"})
        b = json.loads(body)
        check(st == 200 and b["method"] == "POST" and b["args"] == {"a": "1"}
              and b["form"] == {"q": "1"}, "/anything: %d %s" % (st, body))
        st, _, body = call(hb.url + "/post", "POST", json_body={"a": 1})
        check(st == 200 and json.loads(body)["json"] == {"a": 1}, "/post: %d %s" % (st, body))
        st, _, body = call(hb.url + "/headers", headers={"X-Sid": "abc", "X-Vu": "4",
                                                         "Authorization": "Bearer t"})
        h = json.loads(body)["headers"]
        check(st == 200 and h.get("X-Sid") == "abc", "/headers: %d %s" % (st, body))
        st, headers, body = call(hb.url + "/response-headers?X-Foo=bar")
        check(st == 200 and headers.get("X-Foo") == "bar", "/response-headers: %d %s"
              % (st, dict(headers)))
        # gunicorn logs a request after its response is sent, so another
        # worker may log the next request first: compare as a set, by path.
        log = hb.requests()
        check(sorted((e["method"], e["path"]) for e in log) ==
              sorted([("POST", "/anything/x"), ("POST", "/post"), ("GET", "/headers"),
                      ("GET", "/response-headers")]), "log %s" % log)
        by = {e["path"]: e for e in log}
        check(by["/anything/x"]["query"] == "a=1", "query %r" % by["/anything/x"]["query"])
        hd = by["/headers"]
        check((hd["x-sid"], hd["x-vu"], hd["authorization"]) == ("abc", "4", "Bearer t"),
              "logged headers %s" % hd)
        check(by["/post"]["x-sid"] == "", "x-sid of a request without it: %r" % by["/post"]["x-sid"])


def test_httpbin_stops_by_pid():
    """After the with block gunicorn (master and worker) is gone and the port is closed."""
    with Httpbin() as hb:
        pid, port = hb.proc.pid, hb.port
        call(hb.url + "/get")
    check(pid_gone(pid), "gunicorn pid %d still running" % pid)
    check(port_closed(port), "port %d still accepts connections" % port)


# --------------------------------------------------------------------------- nginx


def test_nginx_flow_paths():
    """nginx answers /read, /ai and /write (the weighted-flow test's paths) with 200."""
    with Nginx() as ng:
        for p in ("/read", "/ai", "/write"):
            st, _, _ = call(ng.url + p, "POST" if p == "/write" else "GET",
                            data=b"x" if p == "/write" else None)
            check(st == 200, "%s: %d" % (p, st))
        check(ng.access_log_lines(path="/read") == 1 and ng.access_log_lines(path="/write") == 1,
              "nginx log %s" % ng.entries())


if __name__ == "__main__":
    main([
        test_json_server_post_creates_item_in_db,
        test_json_server_seed_and_form_body,
        test_json_server_request_log,
        test_json_server_login_and_guarded_collection,
        test_json_server_stops_by_pid,
        test_missing_server_skips_outside_ci_fails_in_ci,
        test_httpbin_cookies_set_then_read,
        test_httpbin_redirects,
        test_httpbin_echo_endpoints,
        test_httpbin_stops_by_pid,
        test_nginx_flow_paths,
    ], needs_herd=False)
