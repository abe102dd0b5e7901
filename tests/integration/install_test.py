#!/usr/bin/env python3
"""Installing herd: `meson install` into a staging directory puts herd and
herd-agent side by side with the agent's systemd unit and the examples; the
installed herd runs a real test with no hint where its agent is (no
HERD_AGENT_BIN, a PATH without the build tree); herd alone finds herd-agent
through PATH, and without it says where it looked (exit 103, nothing sent).

Run: HERD_BIN=... HERD_AGENT_BIN=... python3 tests/integration/install_test.py [-k NAME]
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Nginx, check, herd_bin, main, note  # noqa: E402

PLAN = """name: installed
target: {url}
scenarios:
  s:
    executor: per-vu-iterations
    vus: 3
    iterations: 7
    flow:
      - get: /small
"""

# Directories a bare system keeps its programs in; herd-agent must not be
# there for these tests to mean anything (checked).
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class Staged:
    """herd installed by `meson install --destdir` into a temp dir."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="herd-install-")
        build = os.path.dirname(os.path.dirname(os.path.abspath(herd_bin())))
        r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet",
                            "--destdir", self.dir], capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "meson install failed: %s %s" % (r.stdout[-800:], r.stderr[-800:]))
        prefix = subprocess.run(["meson", "introspect", "--buildoptions", build],
                                capture_output=True, text=True).stdout
        self.prefix = "/usr/local"
        if '"name": "prefix"' in prefix:
            import json
            for o in json.loads(prefix):
                if o["name"] == "prefix":
                    self.prefix = o["value"]
        self.root = self.dir + self.prefix
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, rel):
        return os.path.join(self.root, rel)


def run_plain(herd, url, path_env, cwd):
    """Runs herd as a user would after installing it: HERD_AGENT_BIN unset,
    PATH as given. Returns (code, stdout, stderr)."""
    plan = os.path.join(cwd, "plan.yaml")
    with open(plan, "w") as f:
        f.write(PLAN.format(url=url))
    env = {k: v for k, v in os.environ.items() if k not in ("HERD_AGENT_BIN", "HERD_DB")}
    env["PATH"] = path_env
    p = subprocess.run([herd, "run", "--quiet", "--db", os.path.join(cwd, "herd.db"), plan],
                       capture_output=True, text=True, env=env, cwd=cwd, timeout=60)
    return p.returncode, p.stdout, p.stderr


def no_system_agent():
    for d in SYSTEM_PATH.split(":"):
        check(not os.path.exists(os.path.join(d, "herd-agent")),
              "%s/herd-agent exists: these tests need a machine without an installed herd" % d)


def test_install_layout_and_run():
    """The staged install holds both programs, the unit and the examples; the
    installed herd runs 21 requests (nginx logs 21) finding its agent beside
    itself."""
    no_system_agent()
    with Staged() as st, Nginx() as ng:
        for rel in ("bin/herd", "bin/herd-agent", "lib/systemd/system/herd-agent.service",
                    "lib/systemd/system/herd-serve.service", "share/doc/herd/README.md", "share/doc/herd/examples/smoke.yaml",
                    "share/doc/herd/examples/journey.yaml"):
            check(os.path.isfile(st.path(rel)), "meson install did not install %s" % rel)
        work = tempfile.mkdtemp(prefix="herd-inst-run-")
        try:
            code, out, err = run_plain(st.path("bin/herd"), ng.url, SYSTEM_PATH, work)
            check(code == 0, "installed herd exited %d: %s" % (code, err[-1200:]))
            n = ng.access_log_lines()
            check(n == 21, "nginx logged %d requests, expected 21" % n)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def test_alone_finds_agent_in_path():
    """herd copied alone to another directory finds herd-agent through PATH."""
    no_system_agent()
    with Staged() as st, Nginx() as ng:
        work = tempfile.mkdtemp(prefix="herd-alone-")
        try:
            os.makedirs(os.path.join(work, "bin"))
            herd = os.path.join(work, "bin", "herd")
            shutil.copy2(st.path("bin/herd"), herd)
            code, out, err = run_plain(herd, ng.url, st.path("bin") + ":" + SYSTEM_PATH, work)
            check(code == 0, "herd with herd-agent in PATH exited %d: %s" % (code, err[-1200:]))
            check(ng.access_log_lines() == 21, "nginx did not log the 21 requests")
        finally:
            shutil.rmtree(work, ignore_errors=True)


def test_alone_without_agent_says_where_it_looked():
    """herd alone, no herd-agent beside it or in PATH: exit 103 before any
    load, and the message names both places and the fix."""
    no_system_agent()
    with Staged() as st, Nginx() as ng:
        work = tempfile.mkdtemp(prefix="herd-alone-")
        try:
            os.makedirs(os.path.join(work, "bin"))
            herd = os.path.join(work, "bin", "herd")
            shutil.copy2(st.path("bin/herd"), herd)
            code, out, err = run_plain(herd, ng.url, SYSTEM_PATH, work)
            note("stderr: %s", err.strip()[-300:])
            check(code == 103, "exit %d, expected 103: %s" % (code, err[-800:]))
            for words in ("herd-agent", "not beside", "PATH", "HERD_AGENT_BIN"):
                check(words in err, "the message lacks %r: %s" % (words, err.strip()))
            check(ng.access_log_lines() == 0, "requests were sent without an agent")
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main([test_install_layout_and_run, test_alone_finds_agent_in_path,
          test_alone_without_agent_says_where_it_looked])
