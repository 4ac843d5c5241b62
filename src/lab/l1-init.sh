# The KVM lab's L1 init snippet (busybox sh, sourced by the lab initramfs's /init after its module loads).
# src/lab/lab.ts builds the initramfs with this file and boots it under QEMU TCG with three kinds of 9p shares:
#   hostroot  the host's / (read-only)       -> lower layer of an overlay with a tmpfs upper: L1's root
#   results   the run's results directory    -> mounted at its host path; holds lab-env.sh, script.sh, and
#                                               receives output.log, exit-code (or lab-error)
#   rw<N>     each `shareWritable` directory -> mounted writable at its host path
# While the script runs, L1 writes its uptime to heartbeat in the results share every HEARTBEAT_S seconds: the
# host (lab.ts) ends a run whose heartbeat stops, since an L1 that hangs whole prints nothing a host could read.
# Markers on the serial console (read by lab.ts): TYPEVISOR-LAB-READY, TYPEVISOR-LAB-EXIT=<code>,
# TYPEVISOR-LAB-ERROR: <reason>.

NINEP_OPTIONS=trans=virtio,version=9p2000.L,msize=512000

lab_fail() {
  echo "TYPEVISOR-LAB-ERROR: $*"
  if [ -n "$results_mounted" ]; then echo "$*" >"$results/lab-error"; fi
  sync
  poweroff -f
  sleep 60
}

results_mounted=""
results=/results
mkdir -p /results /host /overlay /newroot
mount -t 9p -o "$NINEP_OPTIONS" results /results || lab_fail "cannot mount the results share (9p tag 'results')"
results_mounted=1
[ -f /results/lab-env.sh ] || lab_fail "the results share has no lab-env.sh"
. /results/lab-env.sh # LAB_RESULTS_PATH, LAB_WRITABLE_SHARES ("tag:path ..."), LAB_MODULES_PATH

[ -z "$INITRAMFS_MODULE_FAILURES" ] || echo "lab: modules that failed to load:$INITRAMFS_MODULE_FAILURES"
if [ ! -c /dev/kvm ]; then
  svm_flags=$(grep -c -w svm /proc/cpuinfo)
  lab_fail "/dev/kvm is missing in L1 (CPUs with the svm flag: $svm_flags; failed modules:${INITRAMFS_MODULE_FAILURES:- none})"
fi

# The host's root filesystem, read-only; it never changes under a run, so L1 may cache it.
mount -t 9p -o "$NINEP_OPTIONS,cache=loose,ro" hostroot /host || lab_fail "cannot mount the host root (9p tag 'hostroot')"
mount -t tmpfs -o mode=0755 tmpfs /overlay
mkdir -p /overlay/upper /overlay/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/overlay/upper,workdir=/overlay/work /newroot ||
  lab_fail "cannot mount the overlay of the host root"

for fs in dev proc sys run; do mount -o move "/$fs" "/newroot/$fs" || lab_fail "cannot move /$fs into L1's root"; done
mount -t devpts devpts /newroot/dev/pts 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp

mkdir -p "/newroot$LAB_RESULTS_PATH"
mount -o move /results "/newroot$LAB_RESULTS_PATH" || lab_fail "cannot move the results share to $LAB_RESULTS_PATH"
results="/newroot$LAB_RESULTS_PATH"
for share in $LAB_WRITABLE_SHARES; do
  tag=${share%%:*}
  path=${share#*:}
  mkdir -p "/newroot$path"
  mount -t 9p -o "$NINEP_OPTIONS" "$tag" "/newroot$path" || lab_fail "cannot mount the writable share $path (9p tag $tag)"
done

# The L1 kernel's modules at the standard path, so modprobe works inside (fetch-kernels.sh ran depmod).
release=$(uname -r)
if [ -n "$LAB_MODULES_PATH" ] && [ -d "/newroot$LAB_MODULES_PATH" ]; then
  mkdir -p "/newroot/lib/modules/$release"
  mount -o bind "/newroot$LAB_MODULES_PATH" "/newroot/lib/modules/$release"
fi
hostname typevisor-lab-l1

echo "TYPEVISOR-LAB-READY (L1 uptime $(cut -d' ' -f1 /newroot/proc/uptime) s)"
# The script's output goes to the console and output.log through a fifo, not a pipe: the run ends when the
# script's shell exits, even if it left background processes holding the output open.
mkfifo /lab-output
tee "$results/output.log" </lab-output &
tee_pid=$!
HEARTBEAT_S=5
(while :; do cut -d' ' -f1 /newroot/proc/uptime >"$results/heartbeat"; sleep "$HEARTBEAT_S"; done) &
heartbeat_pid=$!
chroot /newroot /bin/sh "$LAB_RESULTS_PATH/script.sh" </dev/null >/lab-output 2>&1
echo "$?" >"$results/exit-code"
kill "$heartbeat_pid" 2>/dev/null
waited=0
while kill -0 "$tee_pid" 2>/dev/null && [ "$waited" -lt 20 ]; do
  sleep 0.25
  waited=$((waited + 1))
done
exit_code=$(cat "$results/exit-code" 2>/dev/null)
sync
echo "TYPEVISOR-LAB-EXIT=${exit_code:-unknown}"
for share in $LAB_WRITABLE_SHARES; do umount "/newroot${share#*:}" 2>/dev/null; done
umount "$results" 2>/dev/null
poweroff -f
