/**
 * 200+ malformed or hostile requests, generated table-driven. Each must be answered with a 4xx whose error
 * names the problem (the `field`, or a message matching `mentions`).
 */
export interface HostileCase {
  what: string;
  method: string;
  path: string;
  body?: unknown;
  /** Sent verbatim (not JSON-encoded). */
  rawBody?: string;
  contentType?: string;
  status?: number;
  field?: string;
  /** The field may be reported more precisely than `field` (shapes owned by the VmResources hook). */
  fieldPrefix?: boolean;
  mentions?: RegExp;
}

export interface HostileContext {
  kernel: string;
  initrd: string;
  runningVm: string;
  stoppedVm: string;
}

export function hostileRequests(c: HostileContext): HostileCase[] {
  const cases: HostileCase[] = [];
  const vm = (extra: Record<string, unknown>): Record<string, unknown> => ({ name: 'hostile-ok', boot: { kernel: c.kernel, initrd: c.initrd }, ...extra });
  const create = (what: string, body: unknown, field: string | undefined, status = 400, mentions?: RegExp): void => {
    cases.push({ what, method: 'POST', path: '/api/v1/vms', body, status, ...(field !== undefined ? { field } : {}), ...(mentions ? { mentions } : {}) });
  };

  // Wrong types for every field of a VM definition.
  const wrongTypes: Record<string, unknown[]> = {
    name: [123, true, null, [], {}, 1.5],
    engine: [1, true, null, [], {}],
    vcpus: ['2', true, null, [], {}, 1.5],
    memoryMiB: ['512', false, null, [], {}, 64.5],
    boot: ['vmlinuz', 1, true, null, []],
    disks: ['disk.img', 1, {}, null, [1], ['x']],
    nics: ['tap0', 1, {}, null, [true], ['x']],
    restartPolicy: [1, true, null, 'always', 'ON-CRASH'],
  };
  for (const [field, values] of Object.entries(wrongTypes)) {
    for (const v of values) {
      const itemField = (field === 'disks' || field === 'nics') && Array.isArray(v) && v.length > 0 ? `${field}[0]` : field;
      create(`${field} = ${JSON.stringify(v)}`, vm({ [field]: v }), itemField);
    }
  }
  // Missing required fields.
  create('no name', { boot: { kernel: c.kernel } }, 'name');
  create('empty object', {}, 'name');
  create('boot without kernel', vm({ boot: { initrd: c.initrd } }), 'boot.kernel');
  // Disk and NIC item shapes belong to the VmResources hook: the error must name the item, however precisely.
  cases.push({ what: 'disk without path', method: 'POST', path: '/api/v1/vms', body: vm({ disks: [{ format: 'raw' }] }), status: 400, field: 'disks[0]', fieldPrefix: true });
  cases.push({ what: 'nic without tap', method: 'POST', path: '/api/v1/vms', body: vm({ nics: [{ mac: '02:00:00:00:00:01' }] }), status: 400, field: 'nics[0]', fieldPrefix: true });
  // Unknown fields, top level and nested.
  for (const f of ['bogus', 'Name', 'memory', '__proto__x', 'constructor', 'state', 'id', 'pid']) create(`unknown field ${f}`, vm({ [f]: 1 }), f);
  create('unknown boot field', vm({ boot: { kernel: c.kernel, root: '/dev/vda' } }), 'boot.root');
  create('unknown disk field', vm({ disks: [{ path: c.initrd, cache: 'none' }] }), 'disks[0].cache');
  create('unknown nic field', vm({ nics: [{ tap: 'tap0', model: 'e1000' }] }), 'nics[0].model');
  cases.push({ what: 'prototype pollution', method: 'POST', path: '/api/v1/vms', rawBody: '{"name":"proto-x","__proto__":{"admin":true}}', status: 400, mentions: /JSON|prototype|__proto__/ });
  // Names: traversal, case, length, odd characters.
  const badNames = ['../etc', '..', '.', 'a/b', '/abs', 'a\\b', 'UPPER', 'Mixed-case', '-leading', 'a'.repeat(64), '', ' ', 'a b', 'a\u0000b', 'ä', 'a_b', 'a.b', '%2e%2e', 'vm;rm -rf', 'a\nb', 'name$', '`id`'];
  for (const n of badNames) create(`name ${JSON.stringify(n)}`, vm({ name: n }), 'name');
  create('name shaped like an id', vm({ name: '12345678-1234-1234-1234-123456789abc' }), 'name');
  // Duplicate names.
  create('duplicate of the running VM', vm({ name: c.runningVm }), 'name', 409);
  create('duplicate of the stopped VM', vm({ name: c.stoppedVm }), 'name', 409);
  // Unknown / unavailable engines.
  for (const e of ['xen', 'QEMU', '', 'kvm', 'qemu ', 'typevisor2']) create(`engine ${JSON.stringify(e)}`, vm({ engine: e }), 'engine');
  // Ranges.
  for (const v of [0, -1, 33, 1000, 2 ** 31]) create(`vcpus ${v}`, vm({ vcpus: v }), 'vcpus');
  for (const v of [0, -512, 15, 2 ** 21, 2 ** 40]) create(`memoryMiB ${v}`, vm({ memoryMiB: v }), 'memoryMiB');
  // Host paths: relative, missing, directories, traversal to nothing.
  const badPaths: [string, string][] = [
    ['vmlinuz', 'relative'], ['./vmlinuz', 'relative'], ['/nonexistent/vmlinuz', 'missing'], ['/tmp', 'a directory'],
    ['/../../nonexistent', 'traversal'], ['', 'empty'], ['/dev/null/x', 'below a device'],
  ];
  for (const [p, why] of badPaths) {
    create(`kernel ${why}`, vm({ boot: { kernel: p } }), 'boot.kernel');
    create(`initrd ${why}`, vm({ boot: { kernel: c.kernel, initrd: p } }), 'boot.initrd');
    create(`disk ${why}`, vm({ disks: [{ path: p }] }), 'disks[0].path');
  }
  create('tap name too long', vm({ nics: [{ tap: 'x'.repeat(16) }] }), 'nics[0].tap');
  create('tap name with slash', vm({ nics: [{ tap: '../eth0' }] }), 'nics[0].tap');
  create('bad MAC', vm({ nics: [{ tap: 'tap0', mac: 'zz:zz:zz:zz:zz:zz' }] }), 'nics[0].mac');
  create('too many disks', vm({ disks: Array.from({ length: 17 }, () => ({ path: c.initrd })) }), 'disks');
  create('disk format', vm({ disks: [{ path: c.initrd, format: 'vmdk' }] }), 'disks[0].format');
  create('cmdline too long', vm({ boot: { kernel: c.kernel, cmdline: 'x'.repeat(5000) } }), 'boot.cmdline');

  // Bodies that are not JSON objects, too large, or of the wrong type.
  const raw = (what: string, rawBody: string, status: number, mentions: RegExp, contentType?: string): void => {
    cases.push({ what, method: 'POST', path: '/api/v1/vms', rawBody, status, mentions, ...(contentType ? { contentType } : {}) });
  };
  for (const b of ['{', '{"name":', 'nul', '{"name":"a",}', "{'name':'a'}", '\u0000', '{"a":1}{"b":2}']) raw(`invalid JSON ${JSON.stringify(b)}`, b, 400, /JSON|body/i);
  for (const b of ['[]', '"str"', '123', 'true', 'null']) raw(`body ${b}`, b, 400, /body|object|name/i);
  raw('2 MiB body', JSON.stringify({ name: 'big', pad: 'x'.repeat(2 * 1024 * 1024) }), 413, /too large/);
  raw('100,000 levels of nesting', '['.repeat(100_000) + ']'.repeat(100_000), 400, /body|JSON/);
  raw('nested 5000 deep', '{"name":"n","boot":' + '['.repeat(5000) + ']'.repeat(5000) + '}', 400, /boot/);
  raw('text/plain body', 'name=a', 415, /content-type|media type/i, 'text/plain');
  raw('form body', 'name=a', 415, /content-type|media type/i, 'application/x-www-form-urlencoded');

  // Lifecycle requests in the wrong state.
  const op = (what: string, method: string, path: string, status: number, mentions: RegExp, body?: unknown): void => {
    cases.push({ what, method, path, status, mentions, ...(body !== undefined ? { body } : {}) });
  };
  op('start a running VM', 'POST', `/api/v1/vms/${c.runningVm}/start`, 409, /running/);
  op('resume a running VM', 'POST', `/api/v1/vms/${c.runningVm}/resume`, 409, /running/);
  op('delete a running VM without force', 'DELETE', `/api/v1/vms/${c.runningVm}`, 409, /force/);
  op('edit a running VM', 'PATCH', `/api/v1/vms/${c.runningVm}`, 409, /stopped/, { vcpus: 2 });
  op('rename a running VM', 'PATCH', `/api/v1/vms/${c.runningVm}`, 409, /stopped/, { name: 'renamed' });
  for (const o of ['stop', 'pause', 'resume', 'reboot']) op(`${o} a stopped VM`, 'POST', `/api/v1/vms/${c.stoppedVm}/${o}`, 409, /stopped/);
  op('rename onto another VM', 'PATCH', `/api/v1/vms/${c.stoppedVm}`, 409, new RegExp(c.runningVm), { name: c.runningVm });
  op('empty edit', 'PATCH', `/api/v1/vms/${c.stoppedVm}`, 400, /property|properties/, {});
  cases.push({ what: 'edit with unknown field', method: 'PATCH', path: `/api/v1/vms/${c.stoppedVm}`, body: { cpu: 2 }, status: 400, field: 'cpu' });
  cases.push({ what: 'edit with bad vcpus', method: 'PATCH', path: `/api/v1/vms/${c.stoppedVm}`, body: { vcpus: 0 }, status: 400, field: 'vcpus' });
  cases.push({ what: 'edit with missing kernel', method: 'PATCH', path: `/api/v1/vms/${c.stoppedVm}`, body: { boot: { kernel: '/nope' } }, status: 400, field: 'boot.kernel' });

  // Unknown or hostile ids.
  for (const id of ['no-such-vm', '..%2F..%2Fetc%2Fpasswd', '%2e%2e', 'x'.repeat(128), '12345678-1234-1234-1234-123456789abc', '%00']) {
    for (const [method, suffix] of [['GET', ''], ['DELETE', ''], ['POST', '/start'], ['GET', '/console/log'], ['GET', '/metrics']] as const) {
      // (fetch normalises %2e%2e to .., so some of these end on no route at all: still a 404.)
      op(`${method} vm ${id.slice(0, 20)}${suffix}`, method, `/api/v1/vms/${id}${suffix}`, 404, /not found|no route/);
    }
  }
  op('id too long', 'GET', `/api/v1/vms/${'x'.repeat(200)}`, 400, /id/);
  op('id far too long', 'GET', `/api/v1/vms/${'x'.repeat(2000)}`, 404, /no route/);
  op('bad percent-encoding', 'GET', '/api/v1/vms/%E0%A4%A', 400, /URL|url|decode|invalid/i);
  op('unknown route', 'GET', '/api/v1/vms/a/b/c/d', 404, /no route/);
  op('unknown method', 'PUT', '/api/v1/vms', 404, /no route/);
  op('encoded traversal to a host file', 'GET', '/api/v1/vms/..%2F..%2F..%2F..%2Fetc%2Fpasswd/console/log', 404, /not found/);

  // Query strings.
  const query = (what: string, method: string, path: string, field: string): void => {
    cases.push({ what, method, path, status: 400, field });
  };
  for (const t of ['-1', 'abc', '99999', '1.5']) query(`stop timeout ${JSON.stringify(t)}`, 'POST', `/api/v1/vms/${c.runningVm}/stop?timeoutSeconds=${t}`, 'timeoutSeconds');
  for (const f of ['maybe', '2', 'yes']) query(`force=${f}`, 'DELETE', `/api/v1/vms/${c.runningVm}?force=${f}`, 'force');
  query('unknown query parameter', 'GET', '/api/v1/vms?foo=1', 'foo');
  query('unknown query on start', 'POST', `/api/v1/vms/${c.stoppedVm}/start?now=1`, 'now');
  for (const s of ['-5', 'yesterday']) query(`metrics since ${s}`, 'GET', `/api/v1/vms/${c.runningVm}/metrics?since=${s}`, 'since');
  for (const [k, v] of [['status', 'bogus'], ['limit', '0'], ['limit', 'abc'], ['limit', '100000']]) query(`tasks ${k}=${v}`, 'GET', `/api/v1/tasks?${k}=${v}`, k!);
  op('unknown task', 'GET', '/api/v1/tasks/no-such-task', 404, /not found/);

  // Users and tokens.
  const user = (what: string, body: unknown, field: string, status = 400): void => {
    cases.push({ what, method: 'POST', path: '/api/v1/users', body, status, field });
  };
  for (const n of ['', 'Root', '../x', 'a b', 'x'.repeat(40), '1abc']) user(`user name ${JSON.stringify(n)}`, { name: n, role: 'viewer', password: 'long enough' }, 'name');
  for (const r of ['root', 'ADMIN', '', 1]) user(`user role ${JSON.stringify(r)}`, { name: 'bob', role: r, password: 'long enough' }, 'role');
  user('short password', { name: 'bob', role: 'viewer', password: 'short' }, 'password');
  user('password not a string', { name: 'bob', role: 'viewer', password: 12345678 }, 'password');
  user('user unknown field', { name: 'bob', role: 'viewer', password: 'long enough', admin: true }, 'admin');
  user('user missing password', { name: 'bob', role: 'viewer' }, 'password');
  const token = (what: string, body: unknown, field: string): void => {
    cases.push({ what, method: 'POST', path: '/api/v1/tokens', body, status: 400, field });
  };
  token('token role', { name: 'x', role: 'superuser' }, 'role');
  token('token name', { name: 'a b', role: 'viewer' }, 'name');
  token('token expiry', { name: 'x', role: 'viewer', expiresInDays: 0 }, 'expiresInDays');
  token('token secret field', { name: 'x', role: 'viewer', secret: 'mine' }, 'secret');
  op('revoke unknown token', 'DELETE', '/api/v1/tokens/no-such-token', 404, /not found/);
  op('delete unknown user', 'DELETE', '/api/v1/users/nobody', 404, /not found/);
  cases.push({ what: 'login with wrong types', method: 'POST', path: '/api/v1/auth/login', body: { user: 1, password: [] }, status: 400, field: 'user' });
  cases.push({ what: 'login with unknown user', method: 'POST', path: '/api/v1/auth/login', body: { user: 'nobody', password: 'x' }, status: 401, mentions: /unknown user or wrong password/ });
  return cases;
}
