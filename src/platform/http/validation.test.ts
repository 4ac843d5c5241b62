import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeValidationError, validatorCompiler } from './validation.js';

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string' },
    boot: { type: 'object', additionalProperties: false, properties: { kernel: { type: 'string' } } },
    disks: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' } } } },
    n: { type: 'integer' },
  },
};

function check(part: string, data: unknown): { message: string; field: string | undefined } | null {
  const v = validatorCompiler({ schema, httpPart: part, method: 'POST', url: '/x' }) as unknown as ((d: unknown) => boolean) & { errors: never[] };
  return v(data) ? null : describeValidationError(v.errors, part);
}

test('names the field of the first error', () => {
  assert.deepEqual(check('body', {}), { message: 'name is required', field: 'name' });
  assert.deepEqual(check('body', { name: 'a', bogus: 1 }), { message: 'unknown field bogus', field: 'bogus' });
  assert.deepEqual(check('body', { name: 'a', boot: { kernel: 5 } }), { message: 'boot.kernel must be string', field: 'boot.kernel' });
  assert.deepEqual(check('body', { name: 'a', disks: [{ path: 1 }] }), { message: 'disks[0].path must be string', field: 'disks[0].path' });
  assert.equal(check('body', 'x')?.field, undefined);
});

test('bodies are not coerced, query strings are', () => {
  assert.equal(check('body', { name: 'a', n: '5' })?.field, 'n');
  assert.equal(check('querystring', { name: 'a', n: '5' }), null);
});
