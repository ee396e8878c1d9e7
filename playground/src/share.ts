/**
 * Shareable links: the program and its inputs as JSON, deflated
 * (CompressionStream 'deflate-raw') and base64url-encoded into the URL's
 * hash, so nothing is sent to a server.
 */
export interface SharedState {
  /** 'asm' | 'trace' (an uploaded object is not shared: it can be megabytes). */
  mode: 'asm' | 'trace';
  source: string;
  section: string;
  syntax: 'auto' | 'llvm' | 'ubpf';
  /** The packet as hex, or the context as hex for other program types. */
  input: string;
  engine: 'interpreter' | 'jit';
  /** Map entries set before the run: map → [key hex, value hex][]. */
  maps?: Record<string, [string, string][]>;
}

import { TsbpfError } from 'tsbpf';

const PREFIX = '#s=';
/** Longest hash accepted (a decompressed state is capped too). */
const MAX_ENCODED = 64 * 1024;
const MAX_STATE_BYTES = 1 << 20;

export class ShareLinkError extends TsbpfError {
  override name = 'ShareLinkError';
}

async function pipe(bytes: Uint8Array, stream: CompressionStream | DecompressionStream, limit: number): Promise<Uint8Array> {
  const out = new Blob([bytes as BlobPart]).stream().pipeThrough(stream).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await out.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await out.cancel();
      throw new ShareLinkError(`the link's program is over ${limit} bytes`);
    }
    chunks.push(value);
  }
  const joined = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    joined.set(c, at);
    at += c.length;
  }
  return joined;
}

const toBase64Url = (bytes: Uint8Array): string => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join('')).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new ShareLinkError('the link is damaged: it has characters base64url does not use');
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export async function encodeState(state: SharedState): Promise<string> {
  const deflated = await pipe(new TextEncoder().encode(JSON.stringify(state)), new CompressionStream('deflate-raw'), MAX_STATE_BYTES);
  return PREFIX + toBase64Url(deflated);
}

/** The state in a location hash, undefined when the hash holds none; ShareLinkError when it is damaged. */
export async function decodeState(hash: string): Promise<SharedState | undefined> {
  if (!hash.startsWith(PREFIX)) return undefined;
  const encoded = hash.slice(PREFIX.length);
  if (encoded.length > MAX_ENCODED) throw new ShareLinkError(`the link is over ${MAX_ENCODED} characters`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await pipe(fromBase64Url(encoded), new DecompressionStream('deflate-raw'), MAX_STATE_BYTES));
  } catch (error) {
    if (error instanceof ShareLinkError) throw error;
    throw new ShareLinkError(`the link is damaged: ${error instanceof Error ? error.message : String(error)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ShareLinkError('the link is damaged: its contents are not JSON');
  }
  return checkState(value);
}

function checkState(value: unknown): SharedState {
  const v = value as Record<string, unknown>;
  const isString = (k: string): boolean => typeof v[k] === 'string';
  if (typeof value !== 'object' || value === null || !isString('source') || !isString('section') || !isString('input')) throw new ShareLinkError('the link does not hold a playground program');
  if (v.mode !== 'asm' && v.mode !== 'trace') throw new ShareLinkError(`the link's mode '${String(v.mode)}' is not asm or trace`);
  if (v.syntax !== 'auto' && v.syntax !== 'llvm' && v.syntax !== 'ubpf') throw new ShareLinkError(`the link's syntax '${String(v.syntax)}' is unknown`);
  if (v.engine !== 'interpreter' && v.engine !== 'jit') throw new ShareLinkError(`the link's engine '${String(v.engine)}' is unknown`);
  const maps: Record<string, [string, string][]> = {};
  if (v.maps !== undefined) {
    if (typeof v.maps !== 'object' || v.maps === null) throw new ShareLinkError('the link\'s maps are not a record');
    for (const [name, entries] of Object.entries(v.maps)) {
      if (!Array.isArray(entries) || !entries.every((e) => Array.isArray(e) && e.length === 2 && e.every((x) => typeof x === 'string' && /^[0-9a-f]*$/.test(x)))) {
        throw new ShareLinkError(`the link's entries of map '${name}' are not [key hex, value hex] pairs`);
      }
      maps[name] = entries as [string, string][];
    }
  }
  return { mode: v.mode, source: v.source as string, section: v.section as string, syntax: v.syntax, input: v.input as string, engine: v.engine, maps };
}
