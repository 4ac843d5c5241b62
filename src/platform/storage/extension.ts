/**
 * Plugs storage pools, networks, images and cloud-init into the node daemon:
 * opens the managers on the daemon's database and data directory, provides
 * the VmResources hook, and registers the routes.
 */
import type { Logger } from 'pino';
import type { Database } from 'better-sqlite3';
import type { RoutePlugin } from '../server.js';
import type { VmRecord } from '../vms/vm-model.js';
import { ImageManager } from '../images/manager.js';
import { registerImageRoutes } from '../images/routes.js';
import { NetworkManager } from '../network/manager.js';
import { registerNetworkRoutes } from '../network/routes.js';
import { StorageManager } from './manager.js';
import { registerStorageRoutes } from './routes.js';
import { PlatformResources } from './vm-resources.js';

const ACTIVE_STATES = new Set(['starting', 'running', 'paused', 'stopping']);

export interface StoragePlatform {
  storage: StorageManager;
  networks: NetworkManager;
  images: ImageManager;
  resources: PlatformResources;
  plugins: RoutePlugin[];
  close(): Promise<void>;
}

export async function openStoragePlatform(base: { db: Database; dataDir: string; log: Logger }): Promise<StoragePlatform> {
  const say = (msg: string) => base.log.warn(msg);
  // Until the VM manager exists nothing is running; the route plugin plugs in the real lookup.
  const storage = await StorageManager.open(base.db, base.dataDir, { isVmActive: () => false });
  const networks = new NetworkManager(base.db, base.dataDir, say);
  const images = new ImageManager(base.db, storage, { dataDir: base.dataDir, log: say });
  await images.recover();
  await networks.startAll();
  const resources = new PlatformResources(storage, networks, images);
  const plugin: RoutePlugin = (app, ctx) => {
    storage.setVmLookup({
      isVmActive: (id) => {
        try {
          return ACTIVE_STATES.has(ctx.vms.get(id).state);
        } catch {
          return false;
        }
      },
    });
    registerStorageRoutes(app, ctx, storage);
    registerNetworkRoutes(app, ctx, networks);
    registerImageRoutes(app, ctx, images);
  };
  return {
    storage,
    networks,
    images,
    resources,
    plugins: [plugin],
    async close() {
      await networks.stopAll();
    },
  };
}

/** The daemon extension entry (see DaemonOptions.extensions). */
export async function storageExtension(base: { db: Database; dataDir: string; log: Logger }) {
  const platform = await openStoragePlatform(base);
  return { resources: platform.resources, plugins: platform.plugins, close: () => platform.close(), platform };
}

export type { VmRecord };
