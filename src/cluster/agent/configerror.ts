/**
 * A container cannot be configured yet (a missing ConfigMap or Secret, a claim not yet bound): it waits,
 * as in Kubernetes, in the `reason` state, and the event reported once says so.
 */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly reason = 'CreateContainerConfigError',
    readonly eventReason = 'Failed',
  ) {
    super(message);
  }
}
