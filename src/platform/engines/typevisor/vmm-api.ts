/**
 * The contract between the platform and a typevisor VMM process (issue 4 builds
 * the server side; until then this file is the specification the platform uses).
 *
 * Process: `node bin/typevisor.js vmm --api-sock RUN/api.sock --console-sock RUN/console.sock --id ID`
 *   - serves the API below over HTTP/1.1 on RUN/api.sock as soon as it runs (before InstanceStart),
 *   - serves the serial console (bytes both ways) on RUN/console.sock,
 *   - on guest power-off writes RUN/exit.json `{"reason": "poweroff"}` and exits 0; on a fatal
 *     error writes `{"reason": "error", "message": "..."}` and exits non-zero.
 *
 * Endpoints (Firecracker-style; errors are non-2xx with `{"fault_message": "..."}`):
 *   GET   /vm/info                      -> VmInfo
 *   PUT   /machine-config               <- MachineConfig            (before InstanceStart)
 *   PUT   /boot-source                  <- BootSource               (before InstanceStart)
 *   PUT   /drives/{drive_id}            <- Drive                    (before InstanceStart)
 *   PUT   /network-interfaces/{iface_id} <- NetworkInterface        (before InstanceStart)
 *   PUT   /actions                      <- { action_type: VmmAction }
 *   PATCH /vm                           <- { state: 'Paused' | 'Resumed' }
 *   GET   /vm/metrics                   -> VmmMetrics (cumulative counters)
 */
import type { VmLaunchSpec } from '../engine.js';
import type { VmmApiClient } from './vmm-api-client.js';

export interface VmInfo {
  id: string;
  state: 'Not started' | 'Running' | 'Paused';
  vmm_version?: string;
}

export interface MachineConfig {
  vcpu_count: number;
  mem_size_mib: number;
}

export interface BootSource {
  kernel_image_path: string;
  initrd_path?: string;
  boot_args?: string;
}

export interface Drive {
  drive_id: string;
  path_on_host: string;
  is_root_device: boolean;
  is_read_only: boolean;
  format: 'raw' | 'qcow2';
  serial?: string;
}

export interface NetworkInterface {
  iface_id: string;
  host_dev_name: string;
  guest_mac: string;
}

/**
 * InstanceStart: boot the configured VM. PowerButton: ACPI fixed-feature power button
 * event (ACPI 6.5 §4.8.3.1.1), the guest powers off. Reset: reset the machine (reboot).
 * SendCtrlAltDel: Ctrl+Alt+Del through the i8042 keyboard controller.
 */
export type VmmAction = 'InstanceStart' | 'PowerButton' | 'Reset' | 'SendCtrlAltDel';

export interface VmmMetrics {
  block?: Record<string, { read_bytes?: number; write_bytes?: number }>;
}

export interface VmmExitRecord {
  reason: 'poweroff' | 'error';
  message?: string;
}

/** Drive and interface ids the platform uses: d0, d1, ... and n0, n1, ... in spec order. */
export function driveId(index: number): string {
  return `d${index}`;
}

export function ifaceId(index: number): string {
  return `n${index}`;
}

/** Send the whole VM definition, then InstanceStart. */
export async function configureAndStart(client: VmmApiClient, spec: VmLaunchSpec): Promise<void> {
  if (!spec.boot) throw new Error('the typevisor engine boots a kernel directly: give boot.kernel (disk-only boots need the qemu engine)');
  await client.put('/machine-config', { vcpu_count: spec.vcpus, mem_size_mib: spec.memoryMiB } satisfies MachineConfig);
  const boot: BootSource = { kernel_image_path: spec.boot.kernel };
  if (spec.boot.initrd !== undefined) boot.initrd_path = spec.boot.initrd;
  if (spec.boot.cmdline !== undefined) boot.boot_args = spec.boot.cmdline;
  await client.put('/boot-source', boot);
  for (const [index, disk] of spec.disks.entries()) {
    const drive: Drive = {
      drive_id: driveId(index),
      path_on_host: disk.path,
      is_root_device: false,
      is_read_only: disk.readonly,
      format: disk.format,
    };
    if (disk.serial !== undefined) drive.serial = disk.serial;
    await client.put(`/drives/${drive.drive_id}`, drive);
  }
  for (const [index, nic] of spec.nics.entries()) {
    const iface: NetworkInterface = { iface_id: ifaceId(index), host_dev_name: nic.tap, guest_mac: nic.mac.toLowerCase() };
    await client.put(`/network-interfaces/${iface.iface_id}`, iface);
  }
  await client.put('/actions', { action_type: 'InstanceStart' satisfies VmmAction });
}
