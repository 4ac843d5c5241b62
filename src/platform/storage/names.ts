/**
 * Name and path validation for everything the storage, image and network layers
 * put on disk. A name is one path component; it can never be `.`/`..`, contain a
 * slash or start with a dot, so joining it under a pool directory stays inside.
 */
import path from 'node:path';
import { ApiError } from '../http/api-error.js';

export const RESOURCE_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;

/** A 4xx-class error naming the offending field; an ApiError, so the daemon answers with `status`. */
export class StorageError extends ApiError {
  constructor(status: number, code: string, message: string, field?: string) {
    super(status, code, message, field);
    this.name = 'StorageError';
  }
}

export function badRequest(message: string, field?: string): StorageError {
  return new StorageError(400, 'bad_request', message, field);
}
export function notFound(message: string): StorageError {
  return new StorageError(404, 'not_found', message);
}
export function conflict(message: string, field?: string): StorageError {
  return new StorageError(409, 'conflict', message, field);
}

/** Throws a 400 naming `field` unless `name` is a valid resource name. */
export function validateName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string') throw badRequest(`${field} must be a string`, field);
  if (!RESOURCE_NAME_PATTERN.test(name) || name.includes('..')) {
    throw badRequest(
      `${field} ${JSON.stringify(name.slice(0, 140))} is invalid: use 1-128 characters of a-z 0-9 . _ -, starting with a letter or digit, no '..'`,
      field,
    );
  }
  return name;
}

/**
 * Joins validated components under `root` and proves the result is still inside it
 * (defence in depth on top of validateName).
 */
export function resolveInside(root: string, ...components: string[]): string {
  const base = path.resolve(root);
  const full = path.resolve(base, ...components);
  const rel = path.relative(base, full);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw badRequest(`path ${JSON.stringify(components.join('/'))} escapes ${base}`);
  }
  return full;
}
