/**
 * Kubernetes' Status errors, one class for both sides of the wire: the API server throws them and
 * answers with `status()`; the client builds them from a failed response. The predicates read the code
 * and reason as client-go's `apierrors.IsNotFound` and friends do.
 */
export class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  status(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

const is =
  (code: number, reason?: string) =>
  (err: unknown): err is StatusError =>
    err instanceof StatusError && err.code === code && (reason === undefined || err.reason === reason);

export const isNotFound = is(404);
export const isAlreadyExists = is(409, 'AlreadyExists');
export const isConflict = is(409, 'Conflict');
export const isForbidden = is(403);
export const isInvalid = is(422);
export const isGone = is(410);
export const isTooManyRequests = is(429);
export const isUnauthorized = is(401);
