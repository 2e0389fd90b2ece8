/**
 * Crash points for the crash-consistency tests: with `GANTRY_CRASH_AT=<point>` in its environment, a
 * process kills itself with SIGKILL the first time it reaches that point, as a power cut or an OOM
 * kill would stop it there. Without the variable this is one comparison.
 */
const wanted = process.env.GANTRY_CRASH_AT;

export function crashPoint(name: string): void {
  if (wanted === name) process.kill(process.pid, 'SIGKILL');
}
