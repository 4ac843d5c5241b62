/** Lifecycle buttons for a VM (start/stop/reboot/pause/resume/delete), with confirmation where it matters. */
import { useState, type ReactNode } from 'react';
import { api, canOperate, errorText, session } from '../api';
import { useObservable } from '../hooks';
import { useConfirm } from './confirm';
import type { Vm } from '../types';
import { allowedOps, type VmOp } from '../logic';

export type { VmOp };

const LABEL: Record<VmOp, string> = { start: 'Start', stop: 'Stop', reboot: 'Reboot', pause: 'Pause', resume: 'Resume', delete: 'Delete' };
const QUESTION: Partial<Record<VmOp, (n: string) => { title: string; body: string; danger?: boolean }>> = {
  stop: (n) => ({ title: `Stop ${n}?`, body: 'The guest gets an ACPI shutdown request and is powered off after 30 s if it does not stop by itself.' }),
  reboot: (n) => ({ title: `Reboot ${n}?`, body: 'The guest is reset at once; unsaved work inside it is lost.' }),
  pause: (n) => ({ title: `Pause ${n}?`, body: 'Its vCPUs stop until you resume it; network peers may time out.' }),
  delete: (n) => ({ title: `Delete ${n}?`, body: 'The VM definition and the disks created for it are deleted. This cannot be undone.', danger: true }),
};

export function useVmActions(onError: (msg: string | null) => void, onDeleted?: () => void): { dialog: ReactNode; buttons: (vm: Vm, compact?: boolean) => ReactNode } {
  const s = useObservable(session);
  const [dialog, ask] = useConfirm();
  const [busy, setBusy] = useState<Record<string, boolean>>({});
  const allowed = canOperate(s);

  const run = async (vm: Vm, op: VmOp): Promise<void> => {
    const q = QUESTION[op]?.(vm.name);
    if (q && !(await ask({ title: q.title, body: q.body, confirm: LABEL[op], danger: q.danger ?? op === 'stop' }))) return;
    setBusy((b) => ({ ...b, [vm.id]: true }));
    onError(null);
    try {
      if (op === 'delete') {
        await api('DELETE', `/api/v1/vms/${encodeURIComponent(vm.id)}`);
        onDeleted?.();
      } else {
        await api('POST', `/api/v1/vms/${encodeURIComponent(vm.id)}/${op}`);
      }
    } catch (e) {
      onError(`${LABEL[op]} ${vm.name}: ${errorText(e)}`);
    } finally {
      setBusy((b) => ({ ...b, [vm.id]: false }));
    }
  };

  const buttons = (vm: Vm, compact = false): ReactNode => {
    const ops = allowedOps(vm.state);
    const shown: VmOp[] = compact ? ops : ['start', 'stop', 'reboot', 'pause', 'resume', 'delete'];
    return (
      <div className="btn-row">
        {shown.map((op) => (
          <button
            key={op}
            type="button"
            data-op={op}
            className={op === 'delete' ? 'danger small' : op === 'start' ? 'primary small' : 'small'}
            disabled={!allowed || busy[vm.id] === true || !ops.includes(op)}
            title={allowed ? undefined : 'your role (viewer) may only look'}
            onClick={() => void run(vm, op)}
          >
            {LABEL[op]}
          </button>
        ))}
      </div>
    );
  };

  return { dialog, buttons };
}
