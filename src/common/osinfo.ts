import { readFileSync } from 'node:fs';
import os from 'node:os';

/** The host's distribution name (`PRETTY_NAME` of /etc/os-release), as `docker info` reports it. */
export function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m) return m[1]!;
  } catch {
    // No os-release: the kernel's name.
  }
  return os.type();
}
