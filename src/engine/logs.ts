/**
 * Container logs as conmon writes them (k8s-file: `<RFC3339Nano> <stdout|stderr> <F|P> <text>`), read
 * back for `docker logs`: since/until/tail filtering, timestamps, and follow until the container ends.
 */
import { createReadStream, promises as fs, watch } from 'node:fs';

export interface LogEntry {
  /** Nanoseconds since the epoch. */
  timeNs: bigint;
  timestamp: string;
  stream: 'stdout' | 'stderr';
  /** The bytes of this record, with the newline restored for complete (F) lines. */
  data: Buffer;
}

export function parseLine(line: string): LogEntry | undefined {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  const c = line.indexOf(' ', b + 1);
  if (a < 0 || b < 0) return undefined;
  const timestamp = line.slice(0, a);
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
  const text = c < 0 ? '' : line.slice(c + 1);
  return {
    timeNs: timeNs(timestamp),
    timestamp: normaliseTimestamp(timestamp),
    stream,
    data: Buffer.from(tag.includes('P') ? text : `${text}\n`),
  };
}

/** RFC 3339 with nanoseconds and an offset, to nanoseconds since the epoch. */
export function timeNs(ts: string): bigint {
  const m = /^(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return 0n;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  const frac = (m[2] ?? '').padEnd(9, '0').slice(0, 9);
  return BigInt(ms) * 1_000_000n + BigInt(frac);
}

/** Docker prints UTC timestamps with nanoseconds: 2024-01-01T00:00:00.123456789Z. */
function normaliseTimestamp(ts: string): string {
  const ns = timeNs(ts);
  const secs = ns / 1_000_000_000n;
  const iso = new Date(Number(secs) * 1000).toISOString().replace(/\.\d+Z$/, '');
  return `${iso}.${String(ns % 1_000_000_000n).padStart(9, '0')}Z`;
}

export interface LogOptions {
  stdout: boolean;
  stderr: boolean;
  sinceNs?: bigint;
  untilNs?: bigint;
  /** Number of lines from the end, or undefined for all. */
  tail?: number;
  follow: boolean;
}

/** Read all entries of a log file and its rotated predecessors (`.N` oldest first; missing is empty). */
export async function readAll(file: string): Promise<{ entries: LogEntry[]; size: number }> {
  const rotated: string[] = [];
  for (let i = 1; ; i++) {
    try {
      rotated.unshift(await fs.readFile(`${file}.${i}`, 'utf8'));
    } catch {
      break;
    }
  }
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    text = '';
  }
  const current = text;
  text = rotated.join('') + current;
  const lastNl = text.lastIndexOf('\n');
  const complete = text.slice(0, lastNl + 1);
  const entries: LogEntry[] = [];
  for (const line of complete.split('\n')) {
    if (!line) continue;
    const e = parseLine(line);
    if (e) entries.push(e);
  }
  return { entries, size: Buffer.byteLength(current.slice(0, current.lastIndexOf('\n') + 1)) };
}

function wanted(e: LogEntry, o: LogOptions): boolean {
  if (e.stream === 'stdout' && !o.stdout) return false;
  if (e.stream === 'stderr' && !o.stderr) return false;
  if (o.sinceNs !== undefined && e.timeNs < o.sinceNs) return false;
  if (o.untilNs !== undefined && e.timeNs > o.untilNs) return false;
  return true;
}

/**
 * Emit log entries; with `follow`, keep emitting appended entries until `done` resolves (the container
 * stopped) and the file is drained, or `signal` aborts.
 */
export async function streamLogs(
  file: string,
  o: LogOptions,
  emit: (e: LogEntry) => void,
  done: Promise<unknown>,
  signal: AbortSignal,
): Promise<void> {
  const { entries, size } = await readAll(file);
  let selected = entries.filter((e) => wanted(e, o));
  if (o.tail !== undefined && o.tail >= 0) selected = o.tail === 0 ? [] : selected.slice(-o.tail);
  for (const e of selected) emit(e);
  if (!o.follow) return;
  let offset = size;
  let pending = '';
  let finished = false;
  void done.then(() => (finished = true));
  const readMore = async (): Promise<void> => {
    const st = await fs.stat(file).catch(() => undefined);
    if (!st) return;
    if (st.size < offset) offset = 0; // truncated by conmon's --log-size-max
    if (st.size === offset) return;
    const chunks: Buffer[] = [];
    for await (const c of createReadStream(file, { start: offset, end: st.size - 1 })) chunks.push(c as Buffer);
    offset = st.size;
    pending += Buffer.concat(chunks).toString('utf8');
    let i: number;
    while ((i = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, i);
      pending = pending.slice(i + 1);
      const e = parseLine(line);
      if (e && wanted(e, o)) emit(e);
    }
  };
  await new Promise<void>((resolve) => {
    let busy = false;
    let again = false;
    let watcher: ReturnType<typeof watch> | undefined;
    const stop = (): void => {
      watcher?.close();
      clearInterval(timer);
      resolve();
    };
    const tick = async (): Promise<void> => {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      do {
        again = false;
        await readMore().catch(() => undefined);
      } while (again);
      busy = false;
      if (finished || signal.aborted) stop();
    };
    try {
      watcher = watch(file, () => void tick());
    } catch {
      watcher = undefined;
    }
    // The file may not exist yet, and inotify can miss a rename: a slow timer covers both.
    const timer = setInterval(() => void tick(), 250);
    signal.addEventListener('abort', stop, { once: true });
    void done.then(() => void tick());
  });
}
