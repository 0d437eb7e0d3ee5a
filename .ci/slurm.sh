#!/usr/bin/env bash
# CI: the .test workflow through a real single-node SLURM cluster on localhost.
#
# As root on a Debian machine: installs and starts munge, MariaDB, slurmdbd, slurmctld and
# slurmd; runs the workflow with the slurm profile (workflow/profiles/slurm): the .test
# config, then the regions and variants targets (.test/config/regions.yaml, 4 and 3 chunks);
# checks with sacct that every job Snakemake submitted ran through the scheduler and
# completed; and checks that the attribution, region and variant files are byte-identical to
# the local run's in .test/results (run that first, as .ci/run does). That chunking changes
# no score is tested locally too: tests/cli/test_cli.py (2 chunks against one call), the
# regions and variants targets (against one process each). Every daemon is stopped by its
# PID on exit, also on failure. Safe to run again on the same machine. Needs the active
# venv to hold the package with its `slurm` extra.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  if [ -n "${CI:-}" ]; then
    echo "slurm.sh: error: CI needs root and apt-get to set up SLURM" >&2
    exit 1
  fi
  echo "== SLURM step skipped: it sets up a cluster on this machine, which needs root and apt-get"
  exit 0
fi
if [ ! -d .test/results/attributions ] || [ ! -d .test/results/regions/scores ]; then
  echo "slurm.sh: error: no local run to compare with; run the .test workflow first" >&2
  exit 1
fi
python -c 'import snakemake_executor_plugin_slurm' 2>/dev/null || {
  echo "slurm.sh: error: the SLURM executor plugin is missing: pip install -e '.[slurm]'" >&2
  exit 1
}

host=$(hostname -s)
cluster=liftci
work=$repo/.ci-slurm
run_dir=/run/slurm
log_dir=/var/log/slurm
# daemon name, pidfile; stopped in reverse order
daemons=(munged:/run/munge/munged.pid mariadbd:/run/mysqld/mysqld.pid
  "slurmdbd:$run_dir/slurmdbd.pid" "slurmctld:$run_dir/slurmctld.pid" "slurmd:$run_dir/slurmd.pid")

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "slurm.sh: error: timed out waiting for $what" >&2
      return 1
    fi
    sleep 0.5
  done
}

stop_daemons() { # by the PID in each pidfile, checked to be that daemon (PIDs get reused)
  local i name pidfile pid
  for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do
    name=${daemons[i]%%:*} pidfile=${daemons[i]#*:}
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
      kill -TERM "$pid" 2>/dev/null || true
      wait_for 30 "$name ($pid) to stop" bash -c "! kill -0 $pid" || kill -KILL "$pid"
      echo "stopped $name ($pid)"
    fi
    # slurmctld, for one, leaves its pidfile behind
    rm -f "$pidfile"
  done
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e # stop everything, even if one step of it fails
  # Jobs of a failed run would keep the node busy: cancel them before slurmd goes.
  if [ -f "$run_dir/slurmctld.pid" ]; then
    squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null || true
  fi
  stop_daemons
  if [ "$status" -ne 0 ]; then
    echo "== SLURM step failed; daemon logs in $log_dir, job logs in $work/.snakemake/slurm_logs"
  fi
  exit "$status"
}

echo "== SLURM: packages"
needed=(munge mariadb-server slurmdbd slurmctld slurmd slurm-client)
missing=()
for package in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' ||
    missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  # Package scripts must not start daemons we would then not know the PIDs of.
  policy=/usr/sbin/policy-rc.d
  made_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=true
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  if $made_policy; then rm -f "$policy"; fi
fi

# From here on every daemon started is stopped again, however the script ends.
trap cleanup EXIT
trap 'exit 143' INT TERM
# Daemons of an earlier run that was killed before it could clean up.
stop_daemons

echo "== SLURM: configuration"
# slurmctld and slurmd find each other by the short hostname.
getent hosts "$host" >/dev/null || echo "127.0.0.1 $host" >>/etc/hosts
install -d -o slurm -g slurm "$run_dir" "$log_dir" /var/lib/slurm/slurmctld
install -d /var/lib/slurm/slurmd
install -d -o munge -g munge -m 0755 /run/munge
install -d -o mysql -g mysql /run/mysqld /var/log/mysql
mem_mb=$(awk '/^MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
cat >/etc/slurm/slurm.conf <<EOF
# Written by .ci/slurm.sh: one node, two partitions named as in workflow/profiles/slurm.
ClusterName=$cluster
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=$run_dir/slurmctld.pid
SlurmdPidFile=$run_dir/slurmd.pid
SlurmctldLogFile=$log_dir/slurmctld.log
SlurmdLogFile=$log_dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
DefMemPerCPU=1000
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$host
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
NodeName=$host CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP
EOF

echo "== SLURM: daemons"
[ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
runuser -u munge -- munged
wait_for 15 munge bash -c 'munge -n | unmunge'

[ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
mariadbd --user=mysql </dev/null >>/var/log/mysql/ci.log 2>&1 &
wait_for 60 MariaDB mariadb-admin ping
# A fresh password each run, for an account that only slurmdbd on this machine uses.
db_pass=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
mariadb <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE OR REPLACE USER 'slurm'@'localhost' IDENTIFIED BY '$db_pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
install -m 600 -o slurm -g slurm /dev/stdin /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=$host
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=$db_pass
PidFile=$run_dir/slurmdbd.pid
LogFile=$log_dir/slurmdbd.log
EOF
slurmdbd
wait_for 60 slurmdbd sacctmgr -n list cluster
# Adding the cluster also creates the root account and user that jobs are charged to.
sacctmgr -n -P list cluster format=cluster | grep -qx "$cluster" ||
  sacctmgr -i add cluster "$cluster" >/dev/null

slurmctld
wait_for 60 slurmctld bash -c 'scontrol ping | grep -q UP'
slurmd
node_idle() { [ "$(sinfo -h -n "$host" -o %T | sort -u)" = idle ]; }
if ! wait_for 30 "node $host" node_idle; then
  # A node an earlier run left down or drained.
  scontrol update NodeName="$host" State=RESUME
  wait_for 30 "node $host" node_idle
fi
# This cluster only ever runs this script's jobs: drop any a killed run left behind.
squeue -h -o %A | xargs -r scancel
sinfo

# The profile as a user would run it, less its GPU requests: this node has no GPU (the GPU
# rules still go to the `gpu` partition).
rm -rf "$work"
mkdir -p "$work/profile"
cp -r .test/config "$work/config"
cp -r .test/regions "$work/regions"
python - workflow/profiles/slurm/profile.yaml "$work/profile/profile.yaml" <<'EOF'
import sys

import yaml

with open(sys.argv[1]) as handle:
    profile = yaml.safe_load(handle)
for resources in profile.get("set-resources", {}).values():
    resources.pop("gpu", None)
    resources.pop("gpu_model", None)
with open(sys.argv[2], "w") as handle:
    yaml.safe_dump(profile, handle, sort_keys=False)
EOF

snakemake_slurm() { # LABEL ARGS...: the workflow on $work through SLURM, log in $work/LABEL.log
  local label=$1
  shift
  # --cores: this node has 2 CPUs, and `train` uses as many threads as the local run did
  # (its floating-point sums, so the model, depend on that). Status checks every few
  # seconds instead of the profile's half minute: the jobs here are short.
  timeout -k 30 900 snakemake --snakefile "$repo/workflow/Snakefile" --directory "$work" \
    --workflow-profile "$work/profile" --cores 2 \
    --slurm-init-seconds-before-status-checks 2 --seconds-between-status-checks 2 \
    "$@" 2>&1 | tee "$work/$label.log"
}

check_sacct() { # LABEL START: every job Snakemake submitted shows COMPLETED in sacct
  local log=$work/$1.log uuid table submitted completed
  uuid=$(sed -n 's/.*SLURM run ID: \([^ ]*\).*/\1/p' "$log" | head -n 1)
  submitted=$(grep -c 'has been submitted with SLURM jobid' "$log" || true)
  if grep '^localrule ' "$log" | grep -vq '^localrule all:'; then
    echo "slurm.sh: error: rules ran outside SLURM:" >&2
    grep '^localrule ' "$log" >&2
    return 1
  fi
  table=$work/$1.sacct
  sacct -X -n -P --name "$uuid" -S "$2" -o JobID,Partition,State,ExitCode,Elapsed,Comment \
    >"$table"
  completed=$(awk -F'|' '$3 == "COMPLETED" && $4 == "0:0"' "$table" | wc -l)
  echo "== sacct, $1: $completed jobs COMPLETED of $submitted submitted (run $uuid)"
  echo "by rule and partition:"
  awk -F'|' '{sub(/^rule_/, "", $6); sub(/_wildcards_.*/, "", $6); print $6, $2}' "$table" |
    sort | uniq -c
  if [ "$submitted" -eq 0 ] || [ "$completed" -ne "$submitted" ] ||
    [ "$(wc -l <"$table")" -ne "$submitted" ]; then
    echo "slurm.sh: error: sacct does not list every submitted job as COMPLETED:" >&2
    cat "$table" >&2
    return 1
  fi
  total_jobs=$((total_jobs + completed))
}

compare_with_local() { # LABEL FILE...: cmp attribution files with the local run's
  local label=$1 file
  shift
  cmp .test/results/model/model.safetensors "$work/results/model/model.safetensors"
  for file in "$@"; do
    cmp ".test/results/$file" "$work/results/$file"
  done
  echo "== $label: $# attribution files byte-identical to the local run"
}

total_jobs=0
mapfile -t all_files < <(cd .test/results && find attributions -name '*.hyp.npz' | sort)

echo "== SLURM: the .test workflow"
start=$(date +%Y-%m-%dT%H:%M:%S)
snakemake_slurm chunks-test
check_sacct chunks-test "$start"
if [ "$(cd "$work/results" && find attributions -name '*.hyp.npz' | sort)" != \
  "$(printf '%s\n' "${all_files[@]}")" ]; then
  echo "slurm.sh: error: the SLURM run wrote other attribution files than the local run" >&2
  exit 1
fi
compare_with_local "SLURM, .test's chunk count" "${all_files[@]}"

# The regions and variants targets (4 score chunks and 3 variants chunks, two gathers) against
# the local run's gathered directories.
echo "== SLURM: the regions and variants targets"
start=$(date +%Y-%m-%dT%H:%M:%S)
snakemake_slurm regions --configfile "$work/config/regions.yaml"
check_sacct regions "$start"
[ "$(ls .test/results/regions/scores)" = "$(ls "$work/results/regions/scores")" ]
for file in .test/results/regions/scores/*; do
  cmp "$file" "$work/results/regions/scores/${file##*/}"
done
echo "== SLURM, regions: $(ls "$work/results/regions/scores" | wc -l) files byte-identical"
# The same pass ran the config's variants target (3 chunks, a gather).
[ "$(ls .test/results/variants/scores)" = "$(ls "$work/results/variants/scores")" ]
for file in .test/results/variants/scores/*; do
  cmp "$file" "$work/results/variants/scores/${file##*/}"
done
echo "== SLURM, variants: $(ls "$work/results/variants/scores" | wc -l) files byte-identical"
echo "== SLURM step passed: $total_jobs jobs through the scheduler, ${SECONDS}s"
