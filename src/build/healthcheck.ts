/** HEALTHCHECK's arguments as Docker's builder reads them: NONE, or CMD with --interval, --timeout, --start-period and --retries. */
import { invalid } from '../common/errors.js';
import type { HealthConfig } from '../images/oci.js';
import type { Instruction } from './dockerfile.js';

export function parseHealthcheck(ins: Instruction): HealthConfig {
  const words = ins.args.trim().split(/\s+/);
  if (words[0]?.toUpperCase() === 'NONE') return { Test: ['NONE'] };
  if (words[0]?.toUpperCase() !== 'CMD')
    throw invalid(`Dockerfile parse error line ${ins.line}: Unknown type "${words[0] ?? ''}" in HEALTHCHECK (try CMD)`);
  const rest = ins.args.trim().slice(3).trim();
  let test: string[];
  try {
    const v = JSON.parse(rest) as unknown;
    test = Array.isArray(v) ? ['CMD', ...(v as string[])] : ['CMD-SHELL', rest];
  } catch {
    test = ['CMD-SHELL', rest];
  }
  const dur = (v: string | undefined): number | undefined => {
    if (!v) return undefined;
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
    if (!m) throw invalid(`Dockerfile parse error line ${ins.line}: time: invalid duration "${v}"`);
    return Math.round(Number(m[1]) * { ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }[m[2] as 'ms']);
  };
  const f = ins.flags;
  return {
    Test: test,
    Interval: dur(f.interval),
    Timeout: dur(f.timeout),
    StartPeriod: dur(f['start-period']),
    Retries: f.retries ? Number(f.retries) : undefined,
  };
}
