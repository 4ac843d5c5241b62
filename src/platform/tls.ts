/**
 * A self-signed certificate for the daemon, made with openssl at first start
 * whenever it listens beyond loopback (clients pin it or skip verification).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, chmodSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export interface TlsFiles {
  key: Buffer;
  cert: Buffer;
  certPath: string;
}

export function ensureSelfSignedCert(dataDir: string, listenHost: string): TlsFiles {
  const dir = join(dataDir, 'tls');
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  if (!existsSync(keyPath) || !existsSync(certPath)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const names = new Set(['DNS:localhost', `DNS:${hostname()}`, 'IP:127.0.0.1']);
    if (/^[\d.]+$/.test(listenHost) && listenHost !== '0.0.0.0') names.add(`IP:${listenHost}`);
    else if (listenHost !== '0.0.0.0' && listenHost !== '::') names.add(`DNS:${listenHost}`);
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', '3650', '-subj', `/CN=${hostname()}/O=typevisor`,
      '-addext', `subjectAltName=${[...names].join(',')}`,
      '-keyout', keyPath, '-out', certPath,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    chmodSync(keyPath, 0o600);
  }
  return { key: readFileSync(keyPath), cert: readFileSync(certPath), certPath };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
