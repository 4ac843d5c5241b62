/**
 * In-process event bus: VM state changes and task progress. The WebSocket
 * route `/api/v1/events` forwards every event to subscribers as JSON.
 */
import { EventEmitter } from 'node:events';

export type PlatformEvent =
  | { type: 'vm.created'; vm: unknown }
  | { type: 'vm.updated'; vm: unknown }
  | { type: 'vm.deleted'; id: string; name: string }
  | { type: 'vm.state'; id: string; name: string; state: string; stateReason: string }
  | { type: 'task.created'; task: unknown }
  | { type: 'task.progress'; id: string; progress: number }
  | { type: 'task.log'; id: string; line: string }
  | { type: 'task.finished'; task: unknown };

export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Every WebSocket subscriber adds one listener.
    this.emitter.setMaxListeners(0);
  }

  publish(event: PlatformEvent): void {
    this.emitter.emit('event', { ...event, time: new Date().toISOString() });
  }

  subscribe(listener: (event: PlatformEvent & { time: string }) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
