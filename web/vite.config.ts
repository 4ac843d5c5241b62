import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Writes .br and .gz beside each text asset; the daemon serves them to browsers that accept them (@fastify/static preCompressed). */
function precompress(): Plugin {
  return {
    name: 'typevisor-precompress',
    apply: 'build',
    writeBundle(options, bundle) {
      for (const file of Object.keys(bundle)) {
        if (!/\.(js|css|html|svg)$/.test(file)) continue;
        const path = join(options.dir ?? join(root, 'dist'), file);
        const data = readFileSync(path);
        writeFileSync(`${path}.gz`, gzipSync(data, { level: 9 }));
        writeFileSync(`${path}.br`, brotliCompressSync(data));
      }
    },
  };
}

export default defineConfig({
  root,
  plugins: [react(), precompress()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1024 },
  // `npx vite web` during development: API and WebSockets go to a local daemon.
  server: { proxy: { '/api': { target: process.env['TYPEVISOR_SERVER'] ?? 'http://127.0.0.1:8006', ws: true } } },
});
