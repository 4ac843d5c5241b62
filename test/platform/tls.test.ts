/**
 * Beyond loopback the daemon serves HTTPS with a self-signed certificate made at first start (and reused);
 * the CLI client trusts it through the config file's `ca` or `--insecure`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { startDaemon } from '../../src/platform/daemon.js';
import { ApiClient } from '../../src/cli/platform/client.js';
import { cleanup, tempDataDir } from './helpers.js';

test('HTTPS with a self-signed certificate when listening on all addresses', async () => {
  const dataDir = tempDataDir();
  const token = 'tv_tls_test_0123456789abcdef';
  const start = () => startDaemon({ dataDir, listen: '0.0.0.0:0', demo: false, bootstrapToken: token, log: pino({ level: 'silent' }), print: () => {} });
  let d = await start();
  try {
    assert.match(d.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const certPath = join(dataDir, 'tls', 'cert.pem');
    const cert = new X509Certificate(readFileSync(certPath));
    assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    const trusting = new ApiClient({ server: d.url, token, insecure: false, ca: certPath });
    assert.deepEqual((await trusting.call<{ vms: unknown[] }>('GET', '/api/v1/vms')).vms, []);
    const strict = new ApiClient({ server: d.url, token, insecure: false, ca: undefined });
    await assert.rejects(strict.call('GET', '/api/v1/vms'), /self-signed|certificate/);
    const insecure = new ApiClient({ server: d.url, token, insecure: true, ca: undefined });
    assert.equal((await insecure.raw('GET', '/api/v1/vms')).status, 200);
    await d.close();
    d = await start();
    assert.equal(new X509Certificate(readFileSync(certPath)).fingerprint256, cert.fingerprint256, 'certificate reused');
  } finally {
    await d.close();
    cleanup(dataDir);
  }
});
