# Shell functions the rehearsal suites (tools/test.d/6*-rehearsal*.sh) share. Sourced, never run:
# tools/test.sh runs tools/test.d/*.sh only, so nothing in this folder is a suite.

# check_summary SUMMARY RUN [noop [reused]]
# Fails unless SUMMARY (reports/<site>/rehearsal/summary.json) shows a healthy site after the run
# named RUN: ansible-playbook exited 0, no smoke check failed; with `noop`, the run also changed
# nothing (changed=0); with `reused`, it also kept every container. Prints the run's gist either way.
# Messages start with the suite's name: $REHEARSAL_SUITE, or the running script's name without .sh.
check_summary() {
  local suite=${REHEARSAL_SUITE:-$(basename "$0" .sh)}
  "${PY:-.venv/bin/python}" - "$suite" "$1" "$2" "${3:-}" "${4:-}" <<'PY'
import json, os, sys
suite, path, run = sys.argv[1:4]
want_noop, want_reused = sys.argv[4] == "noop", sys.argv[5] == "reused"
if not os.path.exists(path):
    sys.exit(f"{suite}: {run} FAILED: `qpusite up` stopped before writing {path} (see its output above)")
doc = json.load(open(path))
rollout = doc["rollout"] or {}
totals = rollout.get("totals", {})
problems = []
if not doc["ok"]:
    problems.append("the site is not healthy")
if rollout.get("returncode") != 0:
    problems.append(f"ansible-playbook exited {rollout.get('returncode')}")
problems += [f"smoke {s['name']}: {s['detail']}" for s in doc["smoke"] if s["ok"] is False]
if want_noop and totals.get("changed") != 0:
    changed = {h: v["recap"]["changed"] for h, v in doc["hosts"].items() if v["recap"] and v["recap"]["changed"]}
    problems.append(f"{run} is not a no-op: changed={totals.get('changed')} {changed}")
if want_reused:
    recreated = [h for h, v in doc["hosts"].items() if v["container"] != "reused"]
    if recreated:
        problems.append(f"containers not reused on {run}: {recreated}")
phases = ", ".join(f"{p['name']} {p['seconds']:.0f}s" for p in doc["phases"])
print(f"{suite}: {run}: {len(doc['hosts'])} hosts, changed={totals.get('changed')} "
      f"failed={totals.get('failed')}, {phases}")
if problems:
    sys.exit(f"{suite}: {run} FAILED: " + "; ".join(problems) + f" (log: {rollout.get('log')})")
PY
}
