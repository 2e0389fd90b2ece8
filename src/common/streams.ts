/** Reading a whole stream into memory, with a size limit for input from the network. */

/**
 * Concatenate every chunk of a stream. Past `limit` bytes it stops and throws `tooLarge()` (default: a
 * plain error), so a client cannot make a server buffer without bound.
 */
export async function readAll(
  stream: AsyncIterable<unknown>,
  limit = Infinity,
  tooLarge?: () => Error,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    const chunk = c as Buffer;
    n += chunk.length;
    if (n > limit) throw tooLarge ? tooLarge() : new Error(`body larger than ${limit} bytes`);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
