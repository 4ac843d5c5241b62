/** Everything the daemon's routes need, built once by the daemon (or a test). */
import type { Logger } from 'pino';
import type { AuthStore } from './auth/auth-store.js';
import type { EventBus } from './events/event-bus.js';
import type { NodeMonitor } from './node/node-monitor.js';
import type { Db } from './store/database.js';
import type { TaskManager } from './tasks/task-manager.js';
import type { EngineSet } from './vms/engine-set.js';
import type { VmManager } from './vms/vm-manager.js';
import type { VmResources } from './vms/resources.js';

export interface PlatformContext {
  dataDir: string;
  db: Db;
  log: Logger;
  auth: AuthStore;
  events: EventBus;
  tasks: TaskManager;
  engines: EngineSet;
  resources: VmResources;
  vms: VmManager;
  node: NodeMonitor;
  version: string;
}
