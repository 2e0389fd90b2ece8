/** The one place engine error kinds become Docker API status codes. */
import { errorKind, errorMessage, type ErrorKind } from '../../common/errors.js';

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  notFound: 404,
  conflict: 409,
  unauthorized: 401,
  forbidden: 403,
  unavailable: 500,
  notModified: 304,
  notImplemented: 501,
  internal: 500,
};

export function statusOf(err: unknown): number {
  return STATUS[errorKind(err)];
}

export function apiErrorBody(err: unknown): { message: string } {
  return { message: errorMessage(err) };
}
