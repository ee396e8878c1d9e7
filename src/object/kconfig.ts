import type { Btf } from '../btf/index.ts';
import { TsbpfError } from '../errors.ts';
import { fileExists, gunzip, hostArch, kernelRelease, readFile, readTextFile } from '../host/node.ts';
import type { CollectionSpec, ExternSpec } from './spec.ts';

/**
 * `.kconfig` externs, filled as libbpf fills them: values from the running
 * kernel's configuration (or one the caller gives), libbpf's computed
 * LINUX_* values, and each written as its extern's type wants it (tristate,
 * bool, char, string or integer, with libbpf's checks). Both backends'
 * collection loaders use this.
 */

/** Values by name as a kernel .config writes them ('y', 'm', 'n', '"str"', '100'), or the path of such a file. */
export type KconfigSource = Record<string, string | number | boolean> | string;

/** A kconfig extern with no value, or a value its type cannot hold. */
export class KconfigError extends TsbpfError {
  override name = 'KconfigError';
}

/** The running kernel's configuration as name → value text ('y', '"str"', '100'), or undefined. */
function runningKernelConfig(): Record<string, string> | undefined {
  let text: string | undefined;
  if (fileExists('/proc/config.gz')) text = new TextDecoder().decode(gunzip(readFile('/proc/config.gz')));
  else if (fileExists(`/boot/config-${kernelRelease()}`)) text = readTextFile(`/boot/config-${kernelRelease()}`);
  return text === undefined ? undefined : parseKernelConfig(text);
}

/** Parses .config text: `CONFIG_X=value` lines and `# CONFIG_X is not set` (= 'n'). */
export function parseKernelConfig(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const set = /^(CONFIG_\w+)=(.*)$/.exec(line.trim());
    if (set) values[set[1]!] = set[2]!;
    const unset = /^# (CONFIG_\w+) is not set$/.exec(line.trim());
    if (unset) values[unset[1]!] = 'n';
  }
  return values;
}

/**
 * libbpf's computed kconfig value `name` (LINUX_KERNEL_VERSION ...), or
 * undefined. Computed on demand so that a given config needs no host access.
 */
function builtinKconfig(name: string): string | undefined {
  switch (name) {
    case 'LINUX_KERNEL_VERSION': {
      const [major = 0, minor = 0, patch = 0] = kernelRelease().split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0);
      return String((major << 16) | (minor << 8) | Math.min(patch, 255));
    }
    case 'LINUX_HAS_BPF_COOKIE':
      return 'y';
    case 'LINUX_HAS_SYSCALL_WRAPPER':
      return hostArch() === 'x64' || hostArch() === 'arm64' ? 'y' : 'n';
    default:
      return undefined;
  }
}

/**
 * The `.kconfig` map's value for `spec`: `size` bytes with every kconfig
 * extern written at its offset, or undefined when the object has none.
 */
export function kconfigData(spec: CollectionSpec, size: number, source: KconfigSource | undefined): Uint8Array | undefined {
  const externs = Object.values(spec.externs).filter((e) => e.kind === 'kconfig');
  if (externs.length === 0) return undefined;
  let config: Record<string, string> | undefined;
  if (typeof source === 'string') config = parseKernelConfig(readTextFile(source));
  else if (source !== undefined) {
    // A name mapped to undefined is left out, as if the config did not set it.
    config = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined).map(([k, v]) => [k, typeof v === 'boolean' ? (v ? 'y' : 'n') : String(v)]));
  }
  else config = runningKernelConfig();
  const data = new Uint8Array(size);
  for (const extern of externs) {
    const text = config?.[extern.name] ?? builtinKconfig(extern.name);
    if (text === undefined) {
      if (extern.weak) continue;
      throw new KconfigError(`kconfig extern '${extern.name}' has no value${config === undefined ? ' (the kernel configuration is not readable: give kconfig)' : ''}; declare it __weak to default to 0`);
    }
    encodeKconfig(spec.btf, extern, text, data);
  }
  return data;
}

/** Writes a kconfig value as the extern's type wants it (libbpf's set_kcfg_value_*). */
function encodeKconfig(btf: Btf | undefined, extern: ExternSpec, text: string, data: Uint8Array): void {
  const offset = extern.offset ?? 0;
  const size = extern.size ?? 0;
  const fail = (detail: string): never => {
    throw new KconfigError(`kconfig extern '${extern.name}' = ${text}: ${detail}`);
  };
  let kind: 'tristate' | 'bool' | 'char' | 'string' | 'int' = 'int';
  if (btf !== undefined && extern.typeId !== undefined) {
    let t = btf.resolve(extern.typeId);
    if (t.kind === 'var') t = btf.resolve(t.type);
    if (t.kind === 'enum' && t.name === 'libbpf_tristate') kind = 'tristate';
    else if (t.kind === 'int' && t.encoding === 'bool') kind = 'bool';
    else if (t.kind === 'int' && t.size === 1) kind = 'char'; // libbpf: any 1-byte non-bool integer is KCFG_CHAR
    else if (t.kind === 'array') kind = 'string';
  }
  if (/^[ymn]$/.test(text)) {
    if (kind === 'tristate') data[offset] = text === 'y' ? 1 : text === 'm' ? 2 : 0;
    else if (kind === 'bool') {
      if (text === 'm') fail("'m' (module) cannot be a bool; declare it enum libbpf_tristate");
      data[offset] = text === 'y' ? 1 : 0;
    } else if (kind === 'char') data[offset] = text.charCodeAt(0);
    else fail(`a ${kind} extern cannot take y/m/n`);
    return;
  }
  if (text.startsWith('"')) {
    if (kind !== 'string') fail('a string value needs a char array extern');
    const bytes = new TextEncoder().encode(text.replace(/^"|"$/g, ''));
    if (bytes.length >= size) fail(`the string does not fit ${size} bytes with its NUL`);
    data.set(bytes, offset);
    return;
  }
  if (kind !== 'int' && kind !== 'char') fail(`a number cannot go into a ${kind} extern`);
  let value: bigint;
  try {
    value = BigInt(text);
  } catch {
    return fail('not a number');
  }
  if (![1, 2, 4, 8].includes(size)) fail(`unsupported integer size ${size}`);
  const bits = BigInt(size * 8);
  if (value >= 1n << bits || value < -(1n << (bits - 1n))) fail(`does not fit ${size} bytes`);
  const u = BigInt.asUintN(size * 8, value);
  for (let i = 0; i < size; i++) data[offset + i] = Number((u >> BigInt(8 * i)) & 0xffn);
}
