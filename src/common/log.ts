import { pino, destination, type Logger } from 'pino';

export type { Logger };

/** Daemon logs are JSON lines on stderr (pino), so they can be shipped as they are. */
export function createLogger(name: string, level = process.env.GANTRY_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level }, destination(2));
}

/**
 * A long-running Gantry process (daemon, server, agent) logs an error it did not expect and keeps
 * serving: one failed request must never take the process, and every client, down with it.
 */
export function logUncaught(logger: Logger): void {
  process.on('uncaughtException', (err) => logger.error({ err: err.stack ?? String(err) }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => logger.error({ err: String(err) }, 'unhandled rejection'));
}
