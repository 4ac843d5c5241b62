/**
 * The one error type route handlers and managers throw. The server's error
 * handler turns it into `{error: {code, message, field?}}` with `status`.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (message: string, field?: string): ApiError =>
  new ApiError(400, 'invalid_request', message, field);
export const notFound = (what: string): ApiError => new ApiError(404, 'not_found', `${what} not found`);
export const conflict = (message: string, field?: string): ApiError => new ApiError(409, 'conflict', message, field);

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}
