/**
 * Issue 5 with the typevisor engine: inside the KVM lab, the platform daemon
 * picks the typevisor engine (L1 has SVM KVM), boots a Debian kernel through
 * the VMM control API, pauses, resumes and stops it cleanly through the REST API.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildInitramfs, ensureKernels } from '../../src/lab/artifacts.js';
import { runInLab } from '../../src/lab/lab.js';
import { repoRoot } from '../helpers/repo.js';

// A guest that announces itself and powers off when the ACPI power button is pressed (its evdev device).
const INIT = `
for dev in /sys/class/input/event*; do
  if grep -q "Power Button" "$dev/device/name" 2>/dev/null; then
    ( dd if=/dev/input/\${dev##*/} of=/dev/null bs=24 count=1 2>/dev/null; echo "TVP: power button"; poweroff -f ) &
  fi
done
echo "TVP: ready"
while true; do sleep 1; done
`;

let r: Record<string, any> = {};

describe('platform lifecycle with the typevisor engine (KVM lab)', { timeout: 1_800_000 }, () => {
  before(async () => {
    const kernels = await ensureKernels();
    // The ACPI button driver is a module in Debian's cloud kernel; evdev exposes it as an input device.
    const initrd = await buildInitramfs({ initSnippet: INIT, modulesFrom: kernels.cloud.modulesDir, modules: ['button', 'evdev'] });
    const dir = join(repoRoot(), '.cache/lab/platform-typevisor');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'spec.json'), JSON.stringify({ kernel: kernels.cloud.bzImage, initrd }));
    const lab = await runInLab({
      script: `node dist/test/kvm/platform-lab.js ${join(dir, 'spec.json')} ${join(dir, 'out.json')}`,
      // Under the suite's 600 s per file, so that a hang ends with the lab's output rather than without a word.
      timeoutMs: 420_000,
      shareWritable: [dir],
    });
    assert.equal(lab.exitCode, 0, lab.output.slice(-3000));
    r = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'));
  });

  test('the daemon chooses the typevisor engine on an SVM host and says why', () => {
    assert.ok(!r['error'], `${r['error']}\n${r['daemonLog']}`);
    assert.equal(r['create'].status, 201);
    assert.equal(r['create'].engine, 'typevisor');
    assert.match(String(r['create'].engineReason), /SVM|hardware/i);
  });
  test('start boots the guest through the VMM control API; its console reaches the REST API', () => {
    assert.equal(r['startTask'], 'succeeded');
    assert.match(r['bootedConsole'], /TVP: ready/);
  });
  test('pause and resume', () => {
    assert.equal(r['pauseTask'], 'succeeded');
    assert.equal(r['pausedState'], 'paused');
    assert.equal(r['resumeTask'], 'succeeded');
    assert.equal(r['runningView'].state, 'running');
  });
  test('stop presses the ACPI power button, the guest powers off cleanly, and delete removes it', () => {
    assert.equal(r['stopTask'].status, 'succeeded', JSON.stringify(r['stopTask']));
    assert.match(r['stoppedConsole'], /TVP: power button/);
    assert.equal(r['finalState'], 'stopped');
    assert.equal(r['delete'], 204);
  });
});
