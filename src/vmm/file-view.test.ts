import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mapFileReadOnly } from './file-view.js';

test('mapFileReadOnly: the whole file, an empty file, and a missing one named in the error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tv-file-view-'));
  try {
    const content = Buffer.alloc(3 * 4096 + 17);
    for (let i = 0; i < content.length; i++) content[i] = (i * 7) & 0xff;
    writeFileSync(join(dir, 'kernel'), content);
    const view = mapFileReadOnly(join(dir, 'kernel'));
    assert.equal(view.bytes.length, content.length);
    assert.equal(Buffer.compare(Buffer.from(view.bytes), content), 0);
    view.close();
    view.close(); // twice is harmless

    writeFileSync(join(dir, 'empty'), '');
    const empty = mapFileReadOnly(join(dir, 'empty'));
    assert.equal(empty.bytes.length, 0);
    empty.close();

    assert.throws(() => mapFileReadOnly(join(dir, 'missing')), /open .*missing.*(ENOENT|No such file)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
