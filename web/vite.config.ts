import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1024 },
  // `npx vite web` during development: API and WebSockets go to a local daemon.
  server: { proxy: { '/api': { target: process.env['TYPEVISOR_SERVER'] ?? 'http://127.0.0.1:8006', ws: true } } },
});
