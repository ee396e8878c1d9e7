#!/bin/sh
# Builds deploy/Dockerfile with podman (no Docker daemon) and runs the image
# the way the DaemonSet does (privileged, host PID, bpffs and tracefs from the
# host), then scrapes /metrics and checks the example program's counter.
# Run as root from the repository root:  sh deploy/check-image.sh
# Without a reachable registry the base image is made locally first
# (deploy/local-base.sh). Where this machine's limits keep the OCI runtime
# from starting a container (no CAP_SYS_RESOURCE for its setrlimit calls),
# the image's root file system is run with chroot instead, and the script
# says so.
set -eu
port=${PORT:-19435}
image=localhost/tsbpf-exporter
if ! podman image exists docker.io/library/node:20-bookworm && ! podman pull -q docker.io/library/node:20-bookworm >/dev/null 2>&1; then
  echo "check-image: no registry: building the base image locally" >&2
  sh deploy/local-base.sh
fi
# chroot isolation: RUN steps need no cgroups (crun refuses hybrid cgroup hierarchies).
podman build --isolation=chroot -f deploy/Dockerfile -t "$image" .
if curl -s -o /dev/null "http://127.0.0.1:$port/"; then echo "check-image: 127.0.0.1:$port is taken; set PORT" >&2; exit 1; fi
args="--config /etc/tsbpf/programs/node-activity.yaml --host 127.0.0.1 --port $port"
name=tsbpf-exporter-check-$$
stop() { :; }
# shellcheck disable=SC2086
if podman run -d --name "$name" --privileged --pid=host --network=host \
    -v /sys/fs/bpf:/sys/fs/bpf -v /sys/kernel/tracing:/sys/kernel/tracing "$image" $args >/dev/null 2>/tmp/check-image.$$.err; then
  echo "check-image: running as container $name" >&2
  stop() { podman rm -f "$name" >/dev/null; }
else
  echo "check-image: podman run failed ($(tail -1 /tmp/check-image.$$.err)); running the image's root with chroot" >&2
  podman rm -f "$name" >/dev/null 2>&1 || true
  root=$(podman image mount "$image")
  unshare --mount --fork sh -c "mount --rbind /proc '$root/proc' && mount --rbind /sys '$root/sys' && mount --rbind /dev '$root/dev' && exec chroot '$root' node /opt/tsbpf/dist/cli/main.js exporter $args" &
  pid=$!
  # unshare --fork ignores SIGTERM while it waits: stop the exporter itself (its child), which detaches and exits.
  stop() { kill $(pgrep -P "$pid") 2>/dev/null || true; wait "$pid" 2>/dev/null || true; podman image unmount "$image" >/dev/null; }
fi
rm -f /tmp/check-image.$$.err
trap stop EXIT
for _ in $(seq 1 60); do
  if metrics=$(curl -sf "http://127.0.0.1:$port/metrics") && echo "$metrics" | grep -q '^ebpf_exporter_syscalls_total{syscall="read"}'; then
    echo "$metrics" | grep -E '^ebpf_exporter_(syscalls_total\{syscall="(read|write)"\}|ebpf_program_attached|enabled_configs)'
    echo "check-image: ok" >&2
    exit 0
  fi
  sleep 1
done
echo "check-image: no syscall counter at http://127.0.0.1:$port/metrics after 60 s" >&2
exit 1
