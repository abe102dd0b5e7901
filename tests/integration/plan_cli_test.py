#!/usr/bin/env python3
"""Broken plans and bad flags: `herd run` exits 104, names the spot as
file:line:column on stderr, and sends nothing (nginx's access log stays
empty).

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/plan_cli_test.py [-k NAME]
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Nginx, check, main, prepare_run, run_cli, run_herd  # noqa: E402

GOOD = """name: t
target: {url}
scenarios:
  s:
    executor: per-vu-iterations
    vus: 1
    iterations: 2
    flow:
      - get: /small
"""


def expect_plan_error(text, line=None, cols=None, must_contain=(), args=()):
    """Runs herd on a broken plan with nginx listening; checks exit 104, a
    `file:line:column: message` line (at line and one of cols when given),
    the message words, and that no request reached nginx."""
    with Nginx() as ng:
        r = run_herd(text.replace("{url}", ng.url), *args, timeout=30)
        check(r.code == 104, "exit %d, expected 104%s" % (r.code, r.tail()))
        m = re.search(re.escape(r.plan_path) + r":(\d+):(\d+): (.+)", r.stderr)
        check(m, "stderr has no '%s:LINE:COLUMN: message':\n%s" % (r.plan_path, r.stderr))
        ln, col, msg = int(m.group(1)), int(m.group(2)), m.group(3)
        if line is not None:
            check(ln == line, "error at line %d, expected %d: %s" % (ln, line, m.group(0)))
        if cols is not None:
            check(col in cols, "error at column %d, expected %s: %s" % (col, cols, m.group(0)))
        for w in must_contain:
            check(w.lower() in r.stderr.lower(), "stderr lacks %r: %s" % (w, r.stderr.strip()))
        time.sleep(0.3)
        n = ng.access_log_lines()
        check(n == 0, "%d requests reached nginx from an invalid plan" % n)
        check(r.summary is None, "a summary was exported for an invalid plan")
        return msg


def test_valid_plan_control():
    """Control: the good plan these cases break runs, exits 0 and sends 2 requests."""
    with Nginx() as ng:
        r = run_herd(GOOD.replace("{url}", ng.url), timeout=30)
        check(r.code == 0, "exit %d%s" % (r.code, r.tail()))
        n = ng.access_log_lines()
        check(n == 2, "nginx logged %d requests, expected 2" % n)


def test_bad_yaml():
    """Unclosed flow sequence: a YAML syntax error with its position."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: per-vu-iterations
    vus: [1, 2
    flow:
      - get: /small
""")


def test_bad_yaml_indentation():
    """A tab/indentation error is a YAML error with a position, not a crash."""
    expect_plan_error("name: t\ntarget: {url}\nscenarios:\n  s:\n    executor: constant-vus\n"
                      "   vus: 2\n    flow:\n      - get: /small\n")


def test_unknown_key_did_you_mean():
    """`duraton:` -> unknown key at 7:5 with "did you mean 'duration'"."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: constant-vus
    vus: 2
    duraton: 2s
    flow:
      - get: /small
""", line=7, cols=(5,), must_contain=("duraton", "did you mean", "duration"))


def test_unknown_step_key_did_you_mean():
    """`gett:` in a step -> did you mean 'get'."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: per-vu-iterations
    flow:
      - gett: /small
""", line=7, cols=(9,), must_contain=("gett", "did you mean", "get"))


def test_unknown_top_key_did_you_mean():
    """`treshold:` at the top -> did you mean 'thresholds'."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: per-vu-iterations
    flow:
      - get: /small
treshold:
  http_req_duration: ["p(95) < 5"]
""", line=8, cols=(1,), must_contain=("did you mean", "thresholds"))


def test_unknown_executor_did_you_mean():
    """`executor: constant-vu` -> did you mean 'constant-vus'."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: constant-vu
    vus: 1
    duration: 1s
    flow:
      - get: /small
""", line=5, cols=(15,), must_contain=("constant-vu", "constant-vus"))


def test_wrong_type():
    """`vus: lots` -> wrong type, at the value (6:10)."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: constant-vus
    vus: lots
    duration: 2s
    flow:
      - get: /small
""", line=6, cols=(5, 10), must_contain=("vus",))


def test_wrong_type_mapping_for_number():
    """`iterations: {a: 1}` -> wrong type."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: per-vu-iterations
    iterations: { a: 1 }
    flow:
      - get: /small
""", line=6, cols=(5, 17), must_contain=("iterations",))


def test_negative_vus():
    """`vus: -3` is rejected."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: constant-vus
    vus: -3
    duration: 2s
    flow:
      - get: /small
""", line=6, cols=(5, 10), must_contain=("vus",))


def test_bad_duration():
    """`duration: 2 parsecs` -> bad duration at 7:15."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: constant-vus
    vus: 2
    duration: 2 parsecs
    flow:
      - get: /small
""", line=7, cols=(5, 15), must_contain=("duration",))


def test_duration_without_unit():
    """`duration: 10` (no unit) is an error, as in k6."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: constant-vus
    vus: 2
    duration: 10
    flow:
      - get: /small
""", line=7, cols=(5, 15), must_contain=("unit",))


def test_bad_think_range():
    """`think: 300ms..100ms` (min above max) is rejected."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: per-vu-iterations
    flow:
      - get: /small
      - think: 300ms..100ms
""", line=8, cols=(9, 16), must_contain=("think",))


def test_missing_target():
    """No `target:` and a relative path -> an error naming 'target'."""
    expect_plan_error("""name: t
scenarios:
  s:
    executor: per-vu-iterations
    flow:
      - get: /small
""", must_contain=("target",))


def test_missing_duration():
    """constant-vus without duration -> an error naming 'duration' at the scenario."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: constant-vus
    vus: 2
    flow:
      - get: /small
""", line=4, must_contain=("duration",))


def test_bad_threshold_expression():
    """`p(95) <<< 5` -> threshold error at its line."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: per-vu-iterations
    flow:
      - get: /small
thresholds:
  http_req_duration: ["p(95) <<< 5"]
""", line=9, must_contain=("p(95) <<< 5",))


def test_bad_threshold_aggregation():
    """`p95 < 5` (k6 writes p(95)) and an unknown metric are rejected."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: per-vu-iterations
    flow:
      - get: /small
thresholds:
  http_req_duration: ["p95 < 5"]
""", line=9)


def test_bad_threshold_tag():
    """A threshold filter whose key is not spelled as a tag key is rejected."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: per-vu-iterations
    flow:
      - get: /small
thresholds:
  "http_req_duration{1colour:blue}": ["p(95) < 5"]
""", line=9, must_contain=("1colour",))


def test_threshold_tag_nobody_sends():
    """A tag key no step of the plan has is still a filter (agents may add
    tags): it runs, matches nothing and says so ("no data" for a trend, which
    fails, and 0 for a counter) instead of failing the plan."""
    with Nginx() as ng:
        r = run_herd("""name: t
target: {url}
scenarios:
  s:
    executor: per-vu-iterations
    flow:
      - get: /small
thresholds:
  "http_req_duration{colour:blue}": ["p(95) < 5"]
  "iterations{colour:blue}": ["count > 0"]
""".replace("{url}", ng.url), timeout=30)
        check(r.code == 99, "exit %d, expected 99 (count > 0 fails)%s" % (r.code, r.tail()))
        check("'p(95) < 5' no data" in r.stdout, "no 'no data' line%s" % r.tail())
        check("'count > 0' count=0" in r.stdout, "no 'count=0' line%s" % r.tail())
        m = r.metric("http_req_duration{colour:blue}")
        # k6's export marks a failed threshold true; no data fails.
        check(m.get("thresholds", {}).get("p(95) < 5") is True,
              "export: %r" % (m,))


def test_threshold_unknown_scenario():
    """A {scenario:x} filter naming no scenario of the plan is rejected."""
    expect_plan_error("""name: t
target: {url}
scenarios:
  s:
    executor: per-vu-iterations
    flow:
      - get: /small
thresholds:
  "http_req_duration{scenario:nope}": ["p(95) < 5"]
""", line=9, must_contain=("nope",))


def test_empty_plan():
    """An empty file is an invalid plan (104), with a position."""
    expect_plan_error("")


def _expect_flag_error(args, plan_exists=True, words=()):
    with Nginx() as ng:
        text = GOOD.replace("{url}", ng.url) if plan_exists else None
        d, plan_path, db, export, cmd = prepare_run(text, args)
        code, out, err = run_cli(*cmd[1:], timeout=30)
        check(code == 104, "herd %s exited %d, expected 104\n%s%s"
              % (" ".join(cmd[1:]), code, err, out))
        check(err.strip(), "no message on stderr")
        for w in words:
            check(w in err, "stderr lacks %r: %s" % (w, err.strip()))
        time.sleep(0.3)
        n = ng.access_log_lines()
        check(n == 0, "%d requests reached nginx" % n)


def test_flag_local_agents_zero():
    _expect_flag_error(["--local-agents", "0"], words=("--local-agents",))


def test_flag_workers_not_a_number():
    _expect_flag_error(["--workers", "many"], words=("--workers",))


def test_flag_unknown():
    _expect_flag_error(["--no-such-flag"])


def test_missing_plan_file():
    _expect_flag_error([], plan_exists=False, words=("plan.yaml",))


def test_flags_after_plan():
    """The documented order `herd run PLAN.yaml --db F --summary-export F --quiet` works."""
    with Nginx() as ng:
        d, plan_path, db, export, cmd = prepare_run(GOOD.replace("{url}", ng.url))
        args = ["run", plan_path, "--db", db, "--summary-export", export, "--quiet",
                "--local-agents", "1"]
        code, out, err = run_cli(*args, timeout=30)
        check(code == 0, "herd %s exited %d, expected 0\n%s" % (" ".join(args), code, err))
        check(os.path.exists(export), "no summary export written")
        check(os.path.exists(db), "no database written at --db")
        n = ng.access_log_lines()
        check(n == 2, "nginx logged %d requests, expected 2" % n)


def test_no_plan_argument():
    code, out, err = run_cli("run", timeout=30)
    check(code == 104, "herd run with no plan exited %d, expected 104" % code)


def test_unknown_command():
    code, out, err = run_cli("frobnicate", timeout=30)
    check(code == 104, "herd frobnicate exited %d, expected 104" % code)


TESTS = [
    test_valid_plan_control,
    test_bad_yaml,
    test_bad_yaml_indentation,
    test_unknown_key_did_you_mean,
    test_unknown_step_key_did_you_mean,
    test_unknown_top_key_did_you_mean,
    test_unknown_executor_did_you_mean,
    test_wrong_type,
    test_wrong_type_mapping_for_number,
    test_negative_vus,
    test_bad_duration,
    test_duration_without_unit,
    test_bad_think_range,
    test_missing_target,
    test_missing_duration,
    test_bad_threshold_expression,
    test_bad_threshold_aggregation,
    test_bad_threshold_tag,
    test_threshold_tag_nobody_sends,
    test_threshold_unknown_scenario,
    test_empty_plan,
    test_flag_local_agents_zero,
    test_flag_workers_not_a_number,
    test_flag_unknown,
    test_missing_plan_file,
    test_flags_after_plan,
    test_no_plan_argument,
    test_unknown_command,
]

if __name__ == "__main__":
    main(TESTS)
