import { pino, destination, type Logger } from 'pino';

export type { Logger };

/** Daemon logs are JSON lines on stderr (pino), so they can be shipped as they are. */
export function createLogger(name: string, level = process.env.GANTRY_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level }, destination(2));
}
