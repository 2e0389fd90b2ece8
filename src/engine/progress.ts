/** Docker's JSON progress messages (jsonmessage) as the daemon writes them and the CLI reads them. */

export interface ProgressDetail {
  current?: number;
  total?: number;
}

export interface JsonMessage {
  status?: string;
  id?: string;
  progressDetail?: ProgressDetail;
  progress?: string;
  stream?: string;
  error?: string;
  errorDetail?: { message: string; code?: number };
  aux?: unknown;
}

export type ProgressSink = (msg: JsonMessage) => void;

export const noProgress: ProgressSink = () => undefined;

/** Docker's HumanSizeWithPrecision(size, 3): decimal units, three significant digits. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = bytes;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

/** The text progress bar Docker puts in `progress`: `[=====>     ]  1.2MB/3.4MB`. */
export function progressBar(current: number, total: number): string {
  if (total <= 0) return humanSize(current).padStart(8);
  let pct = Math.floor(((current / total) * 100) / 2);
  if (pct > 50) pct = 50;
  const bar = `[${'='.repeat(pct)}>${' '.repeat(50 - pct)}] `;
  return `${bar}${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

/** Emits per-id progress at most every 100 ms so a fast transfer does not flood the client. */
export function throttledProgress(
  sink: ProgressSink,
  id: string,
  status: string,
  total: number,
): (current: number) => void {
  let last = 0;
  return (current) => {
    const now = Date.now();
    if (now - last < 100 && current < total) return;
    last = now;
    sink({ status, id, progressDetail: { current, total }, progress: progressBar(current, total) });
  };
}
