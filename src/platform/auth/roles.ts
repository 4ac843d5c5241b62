/**
 * Roles, from least to most powerful. A route names the least role that may
 * call it; `public` routes need no credentials at all.
 * - viewer: read-only (GET) access,
 * - operator: VM create and lifecycle,
 * - admin: everything, including users and tokens.
 */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export type RouteAccess = Role | 'public';

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function roleAllows(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}
