/** Formatting shared by the kernel-inspection CLI commands (prog, map, link, feature). */
import { KernelArgumentError } from './errors.ts';

/** JSON.stringify replacer writing bigints as numbers when exact, else strings. */
export function bigintJson(_key: string, value: unknown): unknown {
  if (typeof value !== 'bigint') return value;
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

export function parseId(text: string | undefined, what: string): number {
  if (text === undefined) throw new KernelArgumentError(`missing ${what} id`);
  const id = Number(text);
  if (!Number.isInteger(id) || id <= 0 || id > 0xffffffff) throw new KernelArgumentError(`invalid ${what} id '${text}'`);
  return id;
}

export const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
