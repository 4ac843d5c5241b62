/** `typevisor serve`: run the node daemon in the foreground. */
import type { Command } from 'commander';
import { DEFAULT_DATA_DIR, DEFAULT_LISTEN, startDaemon } from '../../platform/daemon.js';
import { storageExtension } from '../../platform/storage/extension.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the node daemon (REST API, WebSockets, VM manager)')
    .option('--data <dir>', 'data directory (SQLite store, VM run directories, TLS certificate)', DEFAULT_DATA_DIR)
    .option('--listen <address:port>', 'address to listen on; TLS (self-signed) when not loopback', DEFAULT_LISTEN)
    .option('--no-demo', 'do not define the demo VM at the first start')
    .action(async (opts: { data: string; listen: string; demo: boolean }) => {
      const daemon = await startDaemon({
        dataDir: opts.data,
        listen: opts.listen,
        bootstrapToken: process.env['TYPEVISOR_BOOTSTRAP_TOKEN'],
        demo: opts.demo,
        extensions: [storageExtension],
      });
      let closing = false;
      const shutdown = (signal: string): void => {
        if (closing) return;
        closing = true;
        daemon.ctx.log.info({ signal }, 'shutting down; VMs keep running');
        daemon.close().then(
          () => process.exit(0),
          (e) => {
            daemon.ctx.log.error({ err: String(e) }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
      // Keep running until a signal arrives.
      await new Promise<never>(() => {});
    });
}
