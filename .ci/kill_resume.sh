#!/usr/bin/env bash
# CI (issue #21): the .test workflow SIGKILLed mid-run, unlocked and rerun gives the same bytes
# as a clean run.
#
#   bash .ci/kill_resume.sh [REFERENCE_RESULTS]
#
# The killed and resumed run works in a copy of .test in a temporary directory, so .test/results
# (which later CI steps use) is never touched. Its outputs are compared with REFERENCE_RESULTS,
# by default .test/results as `.ci/run`'s "workflow on the .test config" step leaves it: this
# script assumes it runs right after that step, before any later step changes .test/config or
# the files the default config writes (the regions and replicates steps only add their own
# folders, results/regions* and results/replicates, which this run does not write). Only one
# extra workflow run (killed + resumed) is paid.
#
# Compared: every file the resumed run wrote under results/, byte for byte, and the reference
# must hold each of them. Left out, with the reason:
#   results/benchmarks/**  Snakemake's timing of each job (wall/CPU seconds, memory): differ on
#                          every run;
#   logs/**                per-job logs with progress, timings and warnings (not under results/,
#                          so not compared anyway);
#   "wall_time_s" and the per-epoch "seconds" of model/model.json: the training's timing (the
#                          rest of that file, the weights' hash included, is compared).
# Also checked: no staged (*.part) file, lock (.*.lock) or stale-lock file is left in results/.
#
# The kill: the workflow runs in its own session (setsid); once the first attribution chunk
# exists (jobs are then in flight), the whole process group gets SIGKILL — Snakemake and every
# job it started. Then `snakemake --unlock` and a rerun with --rerun-incomplete.
#
# Optional: KILL_RESUME_CONFIGFILE=config/regions.yaml (relative to .test) runs that config
# instead, and KILL_RESUME_AT a glob (relative to .test) whose first match triggers the kill,
# e.g. 'results/regions/chunks/*/.*.part' (a `score` chunk mid-write).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
reference=$(realpath "${1:-.test/results}")
[ -d "$reference" ] || { echo "kill_resume: no reference results at $reference" >&2; exit 1; }

work=$(mktemp -d)
trap '[ -n "${KILL_RESUME_KEEP:-}" ] || rm -rf "$work"' EXIT
mkdir "$work/test"
(cd .test && tar --exclude=./results --exclude=./logs --exclude=./.snakemake -cf - .) \
  | tar -C "$work/test" -xf -
snake=(snakemake --cores 2 --directory "$work/test" --snakefile "$repo/workflow/Snakefile")
if [ -n "${KILL_RESUME_CONFIGFILE:-}" ]; then
  snake+=(--configfile "$work/test/$KILL_RESUME_CONFIGFILE")
fi
kill_at=${KILL_RESUME_AT:-results/attributions/*/*/chunks/*.npz}
start=$SECONDS

echo "== kill_resume: the .test workflow, SIGKILLed once $kill_at exists"
setsid "${snake[@]}" >"$work/killed.log" 2>&1 &
leader=$!
group=$(ps -o pgid= "$leader" | tr -d ' ')
[ "$group" = "$leader" ] || { echo "kill_resume: setsid made no new group" >&2; exit 1; }
deadline=$((SECONDS + 900))
until compgen -G "$work/test/$kill_at" >/dev/null; do
  if ! kill -0 "$leader" 2>/dev/null; then
    echo "kill_resume: the workflow ended before $kill_at existed" >&2
    tail -n 20 "$work/killed.log" >&2
    exit 1
  fi
  [ "$SECONDS" -lt "$deadline" ] || { echo "kill_resume: timed out" >&2; exit 1; }
  sleep 0.05
done
kill -KILL -- "-$group"
wait "$leader" 2>/dev/null || true
# SIGKILLed processes can take a moment to exit: wait up to 20 s for the whole session (setsid
# made its id the group's); zombies left for init to reap do not count.
alive() { ps -o stat= --sid "$group" | grep -qv '^Z'; }
for _ in $(seq 100); do
  alive || break
  sleep 0.2
done
if alive; then
  echo "kill_resume: processes of the killed workflow are still running:" >&2
  ps -o pid,stat,args --sid "$group" >&2 || true
  exit 1
fi
echo "killed after $((SECONDS - start))s: $(find "$work/test/results" -type f | wc -l) files," \
  "$(find "$work/test/results" -name '*.part' | wc -l) staged .part files"

echo "== kill_resume: unlock and rerun"
"${snake[@]}" --unlock >"$work/unlock.log" 2>&1
timeout -k 30 1200 "${snake[@]}" --rerun-incomplete >"$work/resumed.log" 2>&1 \
  || { tail -n 30 "$work/resumed.log" >&2; tail -n 5 "$work"/test/logs/*/*.log >&2; exit 1; }

echo "== kill_resume: compare with $reference"
leftovers=$(find "$work/test/results" \( -name '*.part' -o -name '.*.lock' -o -name '*.stale' \))
[ -z "$leftovers" ] || { echo "kill_resume: left behind: $leftovers" >&2; exit 1; }
# same FILE REFERENCE_FILE: byte-identical; model.json: equal but for its timing fields.
same() {
  [ -f "$2" ] || return 1
  case "$1" in
    */model/model.json) python -c '
import json, sys
def untimed(value):
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in ("wall_time_s", "seconds")}
    return [untimed(v) for v in value] if isinstance(value, list) else value
a, b = (untimed(json.load(open(path))) for path in sys.argv[1:])
sys.exit(a != b)' "$1" "$2" ;;
    *) cmp -s "$1" "$2" ;;
  esac
}
compared=0
failed=0
while IFS= read -r -d '' file; do
  relative=${file#"$work/test/results/"}
  if ! same "$file" "$reference/$relative"; then
    echo "kill_resume: differs from the clean run (or missing there): $relative" >&2
    failed=1
  fi
  compared=$((compared + 1))
done < <(find "$work/test/results" -path "$work/test/results/benchmarks" -prune \
  -o -type f -print0)
[ "$compared" -gt 0 ] || { echo "kill_resume: nothing to compare" >&2; exit 1; }
[ "$failed" = 0 ] || exit 1
echo "kill_resume: $compared files identical with the clean run (byte for byte; model.json" \
  "but for its timing; results/benchmarks left out); $((SECONDS - start))s wall"
