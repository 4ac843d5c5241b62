/**
 * Request validation: JSON bodies are checked strictly (no type coercion, no
 * silently dropped unknown fields: `additionalProperties: false` refuses
 * them); query strings and path parameters are text, so they are coerced
 * ("30" -> 30, "true" -> true) before the same checks.
 */
import AjvModule from 'ajv';
import type { ErrorObject } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

const Ajv = AjvModule.default;
const strictAjv = new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: false, strict: false });
const textAjv = new Ajv({ allErrors: false, coerceTypes: true, removeAdditional: false, useDefaults: true, strict: false });

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? strictAjv : textAjv;
  return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
};

/** Turn the first validation error into a message and the dotted field it concerns. */
export function describeValidationError(errors: ErrorObject[] | Partial<ErrorObject>[], part: string): { message: string; field: string | undefined } {
  const e = errors[0];
  if (!e) return { message: `invalid ${part}`, field: undefined };
  const path = (e.instancePath ?? '')
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
  const params = (e.params ?? {}) as Record<string, unknown>;
  const join = (leaf: string): string => (path ? `${path}.${leaf}` : leaf);
  const where = part === 'body' ? '' : ` (in the ${part === 'querystring' ? 'query string' : part})`;
  switch (e.keyword) {
    case 'required': {
      const field = join(String(params['missingProperty']));
      return { message: `${field} is required${where}`, field };
    }
    case 'additionalProperties': {
      const field = join(String(params['additionalProperty']));
      return { message: `unknown field ${field}${where}`, field };
    }
    case 'type':
      if (!path) return { message: `the ${part === 'body' ? 'request body' : part} ${e.message ?? 'has the wrong type'}`, field: undefined };
      return { message: `${path} ${e.message ?? 'has the wrong type'}${where}`, field: path };
    case 'enum': {
      const allowed = (params['allowedValues'] as unknown[] | undefined)?.map((v) => JSON.stringify(v)).join(', ');
      return { message: `${path || part} must be one of ${allowed}${where}`, field: path || undefined };
    }
    default:
      return { message: `${path || part} ${e.message ?? 'is invalid'}${where}`, field: path || undefined };
  }
}
