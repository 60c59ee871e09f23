# Sourced by scripts/image.sh and scripts/hub.sh: podman on these machines needs runc (crun
# refuses hybrid cgroups), cgroupfs and file events (no systemd) and explicit ulimits (containers
# cannot raise theirs): scripts/image/containers.conf, used where cgroups are not v2 only.
if [ -z "${CONTAINERS_CONF:-}" ] && [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
  export CONTAINERS_CONF="$MNIST_ROOT/scripts/image/containers.conf"
fi
