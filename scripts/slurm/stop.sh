#!/usr/bin/env bash
# Provenance: ../shared/slurm/stop_slurm.sh of this workplace, unchanged but for this line.
# Stop the daemons started by setup.sh, by the PIDs it recorded (slurmd, then
# slurmctld, then munged). Leaves packages, config and spool in place.
set -uo pipefail
STATE=${SLURM_STATE:-/run/ci-slurm}
rc=0
for d in slurmd slurmctld munged; do
  f=$STATE/$d.pid
  [ -s "$f" ] || { echo "stop_slurm: no $f" >&2; continue; }
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "stop_slurm: $d ($pid) still alive after 10 s, SIGKILL" >&2
      kill -KILL "$pid"; rc=1
    fi
    echo "stop_slurm: stopped $d ($pid)" >&2
  else
    echo "stop_slurm: $d ($pid) not running" >&2
  fi
  rm -f "$f"
done
exit $rc
