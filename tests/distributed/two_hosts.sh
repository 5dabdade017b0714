#!/usr/bin/env bash
# Two "hosts" on this machine: two network namespaces joined by a veth pair, each with its own
# address and hostname, one process in each, talking TCP only (no shared memory) — the way a
# cluster runs, without leaving the machine. mpirun runs in host A and starts host B's daemon
# through an rsh agent that enters B's namespace (what ssh does on a real cluster).
#
#   two_hosts.sh PROGRAM WORKDIR      (PROGRAM: distributed_check) — exit 77 (skipped) where
#                                      namespaces cannot be made (no root, a restricted container)
set -uo pipefail
program=$1 work=$2
mkdir -p "$work" && cd "$work" || exit 1
skip() { echo "skipped: $*"; exit 77; }
fail() { echo "FAILED: $*"; exit 1; }
command -v ip >/dev/null || skip "no ip command (Debian: iproute2)"
command -v unshare >/dev/null || skip "no unshare command (Debian: util-linux)"
a=tinydl_a_$$ b=tinydl_b_$$ net=10.231.$(($$ % 200 + 20))
netns_mounted=$(findmnt -rn /run/netns >/dev/null 2>&1 && echo 1 || echo 0)
cleanup() {
  ip netns del "$a" 2>/dev/null
  ip netns del "$b" 2>/dev/null
  # `ip netns add` mounts /run/netns once; undo that when it was this test's and nothing else uses it.
  if [ "$netns_mounted" = 0 ] && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then umount /run/netns 2>/dev/null; fi
}
trap cleanup EXIT
ip netns add "$a" 2>/dev/null && ip netns add "$b" 2>/dev/null || skip "cannot create network namespaces here"
# Entering one needs a mount namespace whose / is a mount point (not so under a plain chroot).
why=$(ip netns exec "$a" true 2>&1) || skip "cannot enter a network namespace here ($why)"
ip link add "va$$" type veth peer name "vb$$" || skip "cannot create a veth pair here"
ip link set "va$$" netns "$a" && ip link set "vb$$" netns "$b" || fail "moving the veth ends"
ip -n "$a" addr add "$net.1/24" dev "va$$" && ip -n "$a" link set "va$$" up && ip -n "$a" link set lo up
ip -n "$b" addr add "$net.2/24" dev "vb$$" && ip -n "$b" link set "vb$$" up && ip -n "$b" link set lo up

# The "ssh" to host B: Open MPI calls AGENT HOST COMMAND...; run COMMAND in B's namespace with
# B's own hostname.
cat >agent.sh <<AGENT
#!/bin/sh
shift
exec ip netns exec $b unshare --uts /bin/sh -c "hostname host-b; \$*"
AGENT
chmod +x agent.sh
printf '%s slots=1\n%s slots=1\n' "$net.1" "$net.2" >hosts

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
"$program" train alone.safetensors >/dev/null || fail "the single-process run"
timeout 120 ip netns exec "$a" unshare --uts /bin/sh -c "hostname host-a; exec mpirun -np 2 --hostfile hosts \
  --map-by node --bind-to none --mca plm_rsh_agent $PWD/agent.sh --mca btl tcp,self \
  --mca btl_tcp_if_include $net.0/24 --mca oob_tcp_if_include $net.0/24 \
  -x OMP_NUM_THREADS=1 '$program' train two_hosts.safetensors" >out.txt 2>&1
status=$?
cat out.txt
[ $status -eq 0 ] || fail "mpirun over two namespaces: status $status"
cmp alone.safetensors two_hosts.safetensors || fail "two hosts wrote other bytes than one process"
sha256sum alone.safetensors two_hosts.safetensors
echo "passed: two-hosts"
