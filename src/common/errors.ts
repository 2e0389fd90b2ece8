/**
 * One error type for every component. The kind says what went wrong in terms a caller can act on;
 * each API layer maps kinds to its own status codes in one place (see api/docker/errors.ts).
 */
export type ErrorKind =
  | 'invalid' // bad input from the caller
  | 'notFound'
  | 'conflict'
  | 'unauthorized'
  | 'forbidden'
  | 'unavailable' // a dependency (registry, runtime) could not be reached
  | 'notModified'
  | 'notImplemented'
  | 'internal';

export class GantryError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = 'GantryError';
  }
}

export const invalid = (msg: string): GantryError => new GantryError('invalid', msg);
export const notFound = (msg: string): GantryError => new GantryError('notFound', msg);
export const conflict = (msg: string): GantryError => new GantryError('conflict', msg);

export function errorKind(err: unknown): ErrorKind {
  return err instanceof GantryError ? err.kind : 'internal';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isNodeError(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
