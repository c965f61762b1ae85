#!/usr/bin/env bash
# A single-node SLURM on this machine, so the sweep tests (issue 10) submit real jobs: install
# slurm-wlm and munge where they are missing, write slurm.conf for one node at 127.0.0.1 with
# every core and 90 % of the memory, start munged, slurmctld and slurmd, and wait until the
# node takes jobs. No accounting, no cgroups (their plugins fail on these machines). Safe to
# run twice: a node that already takes jobs is left as it is.
set -euo pipefail

up() { sinfo -h -o %t 2>/dev/null | grep -qxE 'idle|mix|alloc'; }  # a node that takes jobs

if command -v sinfo >/dev/null 2>&1 && up; then
  echo "slurm: already running ($(sinfo -h -o '%n %c CPUs %m MB %t'))"
  exit 0
fi
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  echo "+ apt-get install -y slurm-wlm munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

host=$(hostname -s)
cpus=$(nproc)
memory_mb=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
conf_dir=/etc/slurm
mkdir -p "$conf_dir" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm

# munge: its own user, its key readable by it alone, its socket in /run/munge.
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged
fi

cat >"$conf_dir/slurm.conf" <<CONF
# Written by .ci/slurm.sh: one node, this machine, for tests.
ClusterName=aidopt-ci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${memory_mb} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq 60); do
  if up; then
    echo "slurm: up ($(sinfo -h -o '%n %c CPUs %m MB %t'))"
    exit 0
  fi
  sleep 1
done
echo "slurm: the node did not become idle in 60 s:" >&2
sinfo >&2 || true
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
