#!/usr/bin/env bash
# A one-node SLURM cluster on loopback, for the cluster tests and for trying profiles/slurm
# by hand (docs/cluster.md). Needs root: it installs Debian's slurm-wlm and
# munge if they are missing, and runs slurmctld and slurmd as root.
#
#   tests/cluster/slurm.sh start DIR   config, state and logs in DIR
#   tests/cluster/slurm.sh stop DIR    stops the daemons started with DIR
#
# The config is DIR/slurm.conf, linked from /etc/slurm/slurm.conf, where every SLURM command
# looks: SLURM_CONF is not enough, because the executor's job step drops SLURM_* variables
# before its inner srun (snakemake-executor-plugin-slurm issue 164). The script refuses to
# replace an /etc/slurm/slurm.conf that is not its own link.
set -euo pipefail

action=${1:?usage: slurm.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: slurm.sh start|stop DIR}")

system_conf=/etc/slurm/slurm.conf

stop() {
    for daemon in slurmd slurmctld; do
        if [ -f "$dir/$daemon.pid" ]; then
            pid=$(cat "$dir/$daemon.pid")
            kill "$pid" 2>/dev/null || true
            # Wait for it to exit, so that a new cluster can take the ports and the state.
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            rm -f "$dir/$daemon.pid"
        fi
    done
    if [ "$(readlink "$system_conf" 2>/dev/null)" = "$dir/slurm.conf" ]; then
        rm -f "$system_conf"
    fi
}

if [ "$action" = stop ]; then
    stop
    exit 0
fi
[ "$action" = start ] || { echo "slurm.sh: unknown action '$action' (start, stop)" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# munge authenticates every message between clients and daemons. The package made a key;
# start munged unless one already answers.
if ! munge -n >/dev/null 2>&1; then
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n >/dev/null
fi

mkdir -p "$dir/state" "$dir/spool"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
node=$(hostname -s)
# The node as slurmd sees the hardware (CPUs, memory): a node that claims more is drained.
hardware=$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]* //')

cat > "$dir/slurm.conf" <<CONF
ClusterName=hpstudy
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
# No cgroups in a container: track processes by parent id, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd: finished jobs stay visible to squeue for MinJobAge seconds, which is what the
# Snakemake executor's status_command "squeue" needs.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=3600
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

stop
if [ -e "$system_conf" ] || [ -L "$system_conf" ]; then
    echo "slurm.sh: $system_conf exists and is not this cluster's; not replacing it" >&2
    exit 1
fi
mkdir -p /etc/slurm
ln -s "$dir/slurm.conf" "$system_conf"
slurmctld
slurmd
# Ready when the node is idle (it starts "unknown", then registers).
for _ in $(seq 120); do
    state=$(sinfo --noheader --format=%T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
done
if [ "$state" != idle ]; then
    echo "slurm.sh: node not idle after 60 s (state '${state:-none}'); logs in $dir" >&2
    tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
    exit 1
fi
echo "slurm.sh: one-node cluster up: $(sinfo --noheader --format='%P %D %c %m %T')"
