/** VM rows in SQLite. */
import type { Db } from '../store/database.js';
import type { EngineName } from '../engines/engine.js';
import type { VmRecord, VmSpec, VmState } from './vm-model.js';

interface VmRow {
  id: string;
  name: string;
  engine: EngineName;
  engine_reason: string;
  spec: string;
  state: VmState;
  state_reason: string;
  created_at: number;
  updated_at: number;
}

const fromRow = (r: VmRow): VmRecord => ({
  id: r.id,
  name: r.name,
  engine: r.engine,
  engineReason: r.engine_reason,
  spec: JSON.parse(r.spec) as VmSpec,
  state: r.state,
  stateReason: r.state_reason,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class VmStore {
  // Prepared once: GET /vms is the hottest request of the API.
  private readonly selectAll;
  private readonly selectById;
  private readonly selectByName;

  constructor(private readonly db: Db) {
    this.selectAll = db.prepare('SELECT * FROM vms ORDER BY name');
    this.selectById = db.prepare('SELECT * FROM vms WHERE id = ?');
    this.selectByName = db.prepare('SELECT * FROM vms WHERE name = ?');
  }

  all(): VmRecord[] {
    return (this.selectAll.all() as VmRow[]).map(fromRow);
  }

  byId(id: string): VmRecord | undefined {
    const r = this.selectById.get(id) as VmRow | undefined;
    return r && fromRow(r);
  }

  byName(name: string): VmRecord | undefined {
    const r = this.selectByName.get(name) as VmRow | undefined;
    return r && fromRow(r);
  }

  insert(vm: VmRecord): void {
    this.db
      .prepare('INSERT INTO vms (id, name, engine, engine_reason, spec, state, state_reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(vm.id, vm.name, vm.engine, vm.engineReason, JSON.stringify(vm.spec), vm.state, vm.stateReason, vm.createdAt, vm.updatedAt);
  }

  update(vm: VmRecord): void {
    this.db
      .prepare('UPDATE vms SET name = ?, engine = ?, engine_reason = ?, spec = ?, state = ?, state_reason = ?, updated_at = ? WHERE id = ?')
      .run(vm.name, vm.engine, vm.engineReason, JSON.stringify(vm.spec), vm.state, vm.stateReason, vm.updatedAt, vm.id);
  }

  setState(id: string, state: VmState, reason: string): void {
    this.db.prepare('UPDATE vms SET state = ?, state_reason = ?, updated_at = ? WHERE id = ?').run(state, reason, Date.now(), id);
  }

  delete(id: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM vm_metrics WHERE vm_id = ?').run(id);
      this.db.prepare('DELETE FROM vms WHERE id = ?').run(id);
    })();
  }
}
