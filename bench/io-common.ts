/**
 * What bench/io.ts (host side) and bench/io-l1.ts (inside L1) share: the
 * spec, the per-run record, the network addresses and the guest's script.
 */

export type Engine = 'typevisor' | 'qemu';

export interface IoBenchSpec {
  kernel: string;
  initrd: string;
  cmdline: string;
  memoryMiB: number;
  cpus: number;
  diskMiB: number;
  rounds: number;
  /** Per-VM limit: boot, every measurement, power-off. */
  runTimeoutMs: number;
  /** When set, one extra typevisor boot (not counted) runs under `node --cpu-prof`; its V8 profiles (one per thread) land here. */
  profileDir?: string;
}

/** Figures of one VM run, as printed by the guest (null when that measurement failed). */
export interface IoRunResult {
  engine: Engine;
  round: number;
  seqReadMBps: number | null;
  seqWriteMBps: number | null;
  randReadIops: number | null;
  tcpGuestToHostMbps: number | null;
  tcpHostToGuestMbps: number | null;
  /** Spawn to the guest's "ready" line (modules loaded, network answering), ms. */
  readyMs: number | null;
  /** CPU time the VMM process used (user + system), seconds, sampled just before it exited. */
  vmmCpuSeconds: number | null;
  exitStatus: number | null;
  timedOut: boolean;
  errors: string[];
  /** Every guest line after the marker, for the record. */
  lines: string[];
  /** The console's last bytes, when something went wrong. */
  tail?: string;
}

export const TAP = 'tvbtap0';
export const HOST_ADDRESS = '10.99.1.1';
export const GUEST_ADDRESS = '10.99.1.2';
export const GUEST_MAC = '52:54:00:12:34:56';
export const GUEST_MARK = 'TVIOB:';
/** The guest's virtio modules: the Debian cloud kernel has the drivers as modules. */
export const GUEST_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_net'];

export interface GuestMeasureOptions {
  /** Length of each measurement, seconds. */
  seconds: number;
  /** Threads (requests in flight) for the 1 MiB sequential runs and the 4 KiB random reads. */
  sequentialDepth: number;
  randomDepth: number;
}

/**
 * The initramfs snippet: network up, then the disk runs on /dev/vda (write first, so the reads find written
 * blocks), then iperf3 both ways against the server on the L1 bridge. One `TVIOB:` line per figure; console
 * output is kept to those lines because every byte through an emulated 8250 costs exits.
 */
export function guestScript(o: GuestMeasureOptions): string {
  const s = o.seconds;
  return `
[ -n "$INITRAMFS_MODULE_FAILURES" ] && echo "${GUEST_MARK} error modules:$INITRAMFS_MODULE_FAILURES"
ip link set lo up; ip link set eth0 up; ip addr add ${GUEST_ADDRESS}/24 dev eth0
tries=0
until ping -c 1 -W 2 ${HOST_ADDRESS} >/dev/null 2>&1; do
  tries=$((tries + 1)); if [ $tries -ge 20 ]; then echo "${GUEST_MARK} error network: ${HOST_ADDRESS} does not answer"; break; fi
done
echo "${GUEST_MARK} ready"
for run in "seqwrite 1048576 ${o.sequentialDepth}" "seqread 1048576 ${o.sequentialDepth}" "randread 4096 ${o.randomDepth}"; do
  set -- $run
  echo "${GUEST_MARK} disk $(/bin/diskbench $1 /dev/vda $2 $3 ${s} 2>&1 | tail -n 1)"
done
# -O 1: leave TCP's slow start (the first second) out of the figure.
echo "${GUEST_MARK} tcp-g2h $(iperf3 -c ${HOST_ADDRESS} -t ${s} -O 1 -f m 2>&1 | grep -E 'receiver|error' | tail -n 1)"
echo "${GUEST_MARK} tcp-h2g $(iperf3 -c ${HOST_ADDRESS} -t ${s} -O 1 -f m -R 2>&1 | grep -E 'receiver|error' | tail -n 1)"
echo "${GUEST_MARK} done"
`;
}

/** The number after `key=` in a diskbench line, or null. */
function field(line: string | undefined, key: string): number | null {
  const m = line ? new RegExp(`\\b${key}=([0-9.]+)`).exec(line) : null;
  return m ? Number(m[1]) : null;
}

/** The bitrate of an iperf3 summary line ("... 123 Mbits/sec ... receiver"), in Mbit/s, or null. */
function iperfMbps(line: string | undefined): number | null {
  const m = line && /receiver/.test(line) ? /([0-9.]+)\s+([KMG]?)bits\/sec/.exec(line) : null;
  if (!m) return null;
  const scale: Record<string, number> = { '': 1e-6, K: 1e-3, M: 1, G: 1e3 };
  return Number(m[1]) * scale[m[2]!]!;
}

export function parseGuestLines(lines: string[]): Pick<IoRunResult, 'seqReadMBps' | 'seqWriteMBps' | 'randReadIops' | 'tcpGuestToHostMbps' | 'tcpHostToGuestMbps' | 'errors'> {
  const find = (prefix: string) => lines.find((l) => l.startsWith(prefix));
  const result = {
    seqWriteMBps: field(find('disk DISKBENCH mode=seqwrite'), 'mbps'),
    seqReadMBps: field(find('disk DISKBENCH mode=seqread'), 'mbps'),
    randReadIops: field(find('disk DISKBENCH mode=randread'), 'iops'),
    tcpGuestToHostMbps: iperfMbps(find('tcp-g2h ')),
    tcpHostToGuestMbps: iperfMbps(find('tcp-h2g ')),
    errors: lines.filter((l) => l.startsWith('error')),
  };
  // A measurement without a figure failed: keep what the guest printed for it.
  for (const [key, prefix] of [['seqWriteMBps', 'disk'], ['seqReadMBps', 'disk'], ['randReadIops', 'disk'], ['tcpGuestToHostMbps', 'tcp-g2h'], ['tcpHostToGuestMbps', 'tcp-h2g']] as const) {
    if (result[key] === null) result.errors.push(`${key}: no figure (${lines.filter((l) => l.startsWith(prefix)).join(' | ') || 'no line'})`);
  }
  return result;
}
