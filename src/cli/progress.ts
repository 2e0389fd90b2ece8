/**
 * Show a daemon's JSON-lines progress stream as the docker CLI does (jsonmessage): on a terminal, one
 * line per layer id updated in place with progress bars; otherwise plain status lines without bars.
 */
import type { IncomingMessage } from 'node:http';
import type { JsonMessage } from '../engine/progress.js';

export class StreamError extends Error {}

export async function* jsonLines(res: IncomingMessage): AsyncGenerator<JsonMessage> {
  let buf = '';
  for await (const chunk of res) {
    buf += (chunk as Buffer).toString('utf8');
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) yield JSON.parse(line) as JsonMessage;
    }
  }
  if (buf.trim()) yield JSON.parse(buf.trim()) as JsonMessage;
}

/**
 * Display messages, handing `aux` payloads to `onAux`. Throws StreamError for an in-band error.
 */
export async function displayJsonMessages(
  res: IncomingMessage,
  out: NodeJS.WriteStream,
  onAux?: (aux: unknown) => void,
): Promise<void> {
  const tty = !!out.isTTY;
  const lines = new Map<string, number>();
  let total = 0;
  for await (const m of jsonLines(res)) {
    if (m.error || m.errorDetail) throw new StreamError(m.errorDetail?.message ?? m.error ?? 'unknown error');
    if (m.aux !== undefined) {
      onAux?.(m.aux);
      continue;
    }
    const hasBar = !!m.progress;
    if (!tty && hasBar) continue;
    let text: string;
    if (m.stream !== undefined) text = m.stream;
    else text = `${m.id ? `${m.id}: ` : ''}${m.status ?? ''}${tty && m.progress ? ` ${m.progress}` : ''}`;
    if (tty && m.id && m.stream === undefined) {
      const line = lines.get(m.id);
      if (line === undefined) {
        lines.set(m.id, total);
        total++;
        out.write(`${text}\n`);
      } else {
        const up = total - line;
        out.write(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
      }
      continue;
    }
    if (m.stream !== undefined) {
      out.write(text);
    } else {
      out.write(`${text}\n`);
      if (tty) {
        // Lines printed without an id scroll the screen; ids above keep their relative offsets.
        total++;
      }
    }
  }
}
