#!/usr/bin/env bash
# Provenance: ../shared/slurm/setup_slurm.sh of this workplace (measured there on Debian 12,
# slurm-wlm 22.05.8), brought into the project for `.ci/run` and the real-SLURM tests
# (tests/sweeps/conftest.py); unchanged but for these comments.
#
# Bring up a single-node SLURM cluster (munged + slurmctld + slurmd) on this Debian machine.
# Run as root. No systemd needed: the three daemons are started directly and their PIDs are
# written to $SLURM_STATE (default /run/ci-slurm), which stop.sh reads.
# Exits 0 once `srun hostname` works; non-zero (with the daemons' log tails) otherwise.
#
#   sudo scripts/slurm/setup.sh             # install if needed, configure, start, check
#   SLURM_NODE_CPUS=4 scripts/slurm/setup.sh
#   scripts/slurm/stop.sh                   # stop the daemons again (by their recorded PIDs)
#
# Tested on Debian 12 (bookworm), slurm-wlm 22.05.8, munge 0.5.15, as root in a VM without
# systemd as PID 1.
set -euo pipefail

STATE=${SLURM_STATE:-/run/ci-slurm}
CPUS=${SLURM_NODE_CPUS:-2}
PARTITION=${SLURM_PARTITION:-debug}
MEM_MARGIN_MB=${SLURM_MEM_MARGIN_MB:-1024}
CONF=/etc/slurm/slurm.conf

log() { printf 'setup_slurm: %s\n' "$*" >&2; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }

# 1. packages (about 8 s from the Debian mirror; ~25 MB)
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v srun >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

HOST=$(hostname -s)
getent hosts "$HOST" >/dev/null || echo "127.0.0.1 $HOST" >>/etc/hosts

# 2. munge: key (the package's postinst normally creates it) and runtime directories
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 0700 /etc/munge
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge

# 3. slurm directories and config
install -d -m 0755 "$STATE"
install -d -o slurm -g slurm -m 0755 /var/spool/slurmctld /var/log/slurm
install -d -m 0755 /var/spool/slurmd /etc/slurm
TOTAL_MB=$(free -m | awk '/^Mem:/{print $2}')
MEM=$(( TOTAL_MB - MEM_MARGIN_MB ))
[ "$MEM" -gt 0 ] || MEM=$(( TOTAL_MB / 2 ))

cat >"$CONF" <<EOF
# single-node test cluster, written by scripts/slurm/setup.sh
ClusterName=ci
SlurmctldHost=$HOST
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
# reject at sbatch what no node can ever run (else it pends forever, Reason=PartitionConfig)
EnforcePartLimits=ALL
# take the node's CPUs/memory from this file even where the hardware differs
SlurmdParameters=config_overrides
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
MinJobAge=300
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
chmod 0644 "$CONF"

# 4. daemons (each forks into the background and writes its pid file)
if ! alive /run/munge/munged.pid; then
  rm -f /run/munge/munged.pid /run/munge/munge.socket.2*
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do [ -S /run/munge/munge.socket.2 ] && break; sleep 0.1; done
fi
cp /run/munge/munged.pid "$STATE/munged.pid"
munge -n | unmunge >/dev/null || { log "munge does not round-trip"; exit 1; }

if ! alive "$STATE/slurmctld.pid"; then
  /usr/sbin/slurmctld
else
  scontrol reconfigure  # already running: re-read the slurm.conf written above
fi
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done

if ! alive "$STATE/slurmd.pid"; then
  /usr/sbin/slurmd
fi

# 5. wait for the node, then the checks
state=""
for _ in $(seq 120); do
  state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1)
  case "$state" in idle*|mixed*|allocated*) break ;; esac
  case "$state" in down*|drain*) scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true ;; esac
  sleep 0.5
done
case "$state" in
  idle*|mixed*|allocated*) ;;
  *) log "node $HOST is '$state', not idle"
     tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
     exit 1 ;;
esac

out=$(timeout 60 srun -N1 -n1 -t 1 hostname) || {
  log "srun hostname failed"; tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2; exit 1; }
[ "$out" = "$(hostname)" ] || [ "$out" = "$HOST" ] || { log "srun printed '$out'"; exit 1; }
log "up: munged $(cat "$STATE/munged.pid"), slurmctld $(cat "$STATE/slurmctld.pid"), slurmd $(cat "$STATE/slurmd.pid"); srun hostname -> $out"
exit 0
