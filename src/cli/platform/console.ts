/** `typevisor vm console`: the terminal in raw mode wired to the console WebSocket; Ctrl-] (0x1d) detaches. */
import { ApiClient, CliError } from './client.js';

const DETACH_BYTE = 0x1d;

export function attachConsole(api: ApiClient, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = api.websocket(`/api/v1/vms/${encodeURIComponent(name)}/console`);
    const stdin = process.stdin;
    let raw = false;
    const restore = (): void => {
      if (raw && stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onInput);
    };
    const onInput = (data: Buffer): void => {
      const i = data.indexOf(DETACH_BYTE);
      if (i >= 0) {
        if (i > 0) ws.send(data.subarray(0, i));
        ws.close();
        return;
      }
      ws.send(data);
    };
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let msg = `HTTP ${res.statusCode}`;
        try {
          msg = (JSON.parse(Buffer.concat(chunks).toString()) as { error: { message: string } }).error.message;
        } catch {
          /* keep the status */
        }
        reject(new CliError(`console refused: ${msg}`));
      });
    });
    ws.on('open', () => {
      process.stderr.write(`connected to ${name}'s console; Ctrl-] detaches\r\n`);
      if (stdin.isTTY) {
        stdin.setRawMode(true);
        raw = true;
      }
      stdin.on('data', onInput);
      stdin.resume();
    });
    ws.on('message', (data: Buffer) => process.stdout.write(data));
    ws.on('close', () => {
      restore();
      process.stderr.write('\r\ndetached\r\n');
      resolve();
    });
    ws.on('error', (e) => {
      restore();
      reject(new CliError(`console: ${e.message}`));
    });
  });
}
