/**
 * Generates the OpenAPI 3 document of the VMM control API from ROUTES; the
 * committed copy (docs/vmm-api.openapi.json) is checked against it by a test,
 * and `node dist/src/api/openapi.js > docs/vmm-api.openapi.json` refreshes it.
 */
import { fileURLToPath } from 'node:url';
import { ROUTES } from './routes.js';

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const path = r.url.replace(/:([a-z_]+)/g, '{$1}');
    const op: Record<string, unknown> = {
      summary: r.summary,
      description: `Allowed when the VM is: ${r.allowedIn}.`,
      responses: {
        '200': { description: 'OK (JSON body)' },
        '204': { description: 'Done' },
        '400': { description: 'Invalid request', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        '409': { description: 'Not allowed in the current VM state', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
    const params = (r.params?.['properties'] ?? {}) as Record<string, unknown>;
    const names = Object.keys(params);
    if (names.length) op['parameters'] = names.map((name) => ({ name, in: 'path', required: true, schema: params[name] }));
    if (r.body) op['requestBody'] = { required: true, content: { 'application/json': { schema: r.body } } };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.0.3',
    info: { title: 'typevisor VMM control API', version: '0.1.0', description: 'HTTP/1.1 over the Unix socket given by --api-sock.' },
    paths,
    components: { schemas: { Error: { type: 'object', required: ['fault_message'], properties: { fault_message: { type: 'string' } } } } },
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(JSON.stringify(openApiDocument(), null, 2) + '\n');
}
