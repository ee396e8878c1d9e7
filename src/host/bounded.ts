import { InputTooLargeError } from './errors.ts';

/**
 * Collects the chunks of a stream (standard input, a pipe) into one array,
 * stopping with InputTooLargeError as soon as more than `limit` bytes came:
 * an endless input costs at most the limit in memory.
 */
export async function collectBounded(chunks: AsyncIterable<Uint8Array>, limit: number, source: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of chunks) {
    total += chunk.length;
    if (total > limit) throw new InputTooLargeError(source, limit);
    parts.push(chunk);
  }
  return concatChunks(parts, total);
}

/** `chunks` joined into one array of `total` bytes. */
export function concatChunks(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
