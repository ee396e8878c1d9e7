/**
 * Configuration files of the use-case tools (xdp-guard, lb, audit): YAML or
 * JSON (JSON is YAML), read with positions so that every problem names the
 * file, the line and the key path. Unknown keys are errors: a misspelt key
 * must never silently do nothing.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { TsbpfError } from '../../errors.ts';
import { readFile } from '../../host/node.ts';

/** A configuration or rule file that is wrong, with where: `file:line: key.path: problem`. */
export class ConfigFileError extends TsbpfError {
  override name = 'ConfigFileError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly keyPath: string,
    readonly problem: string,
  ) {
    super(`${file}:${line}: ${keyPath ? `${keyPath}: ` : ''}${problem}`);
  }
}

/** Files bigger than this are refused before parsing: configurations are small. */
export const MAX_CONFIG_BYTES = 4 << 20;

/** One value of the document with its place, read through typed accessors that throw ConfigFileError. */
export class ConfigNode {
  constructor(
    readonly file: string,
    private readonly node: Node | null | undefined,
    readonly keyPath: string,
    readonly line: number,
    private readonly lines: LineCounter,
  ) {}

  error(problem: string): ConfigFileError {
    return new ConfigFileError(this.file, this.line, this.keyPath, problem);
  }

  get isNull(): boolean {
    return this.node === null || this.node === undefined || (isScalar(this.node) && this.node.value === null);
  }

  #child(node: Node | null | undefined, key: string, fallbackLine: number): ConfigNode {
    const line = node?.range ? this.lines.linePos(node.range[0]).line : fallbackLine;
    return new ConfigNode(this.file, node, key, line, this.lines);
  }

  /** A mapping's entries, each key one of `allowed`; `required` keys must be there. */
  object(allowed: readonly string[], required: readonly string[] = []): Map<string, ConfigNode> {
    if (!isMap(this.node)) throw this.error(`expected a mapping with keys ${allowed.join(', ')}, got ${this.describe()}`);
    const entries = new Map<string, ConfigNode>();
    for (const pair of this.node.items) {
      const keyNode = pair.key as Node | null;
      const keyLine = keyNode?.range ? this.lines.linePos(keyNode.range[0]).line : this.line;
      const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
      const path = key === undefined ? this.keyPath : this.keyPath ? `${this.keyPath}.${key}` : key;
      if (key === undefined || !allowed.includes(key)) {
        throw new ConfigFileError(this.file, keyLine, path, `unknown key${key === undefined ? '' : ` '${key}'`} (expected one of ${allowed.join(', ')})`);
      }
      if (entries.has(key)) throw new ConfigFileError(this.file, keyLine, path, 'duplicate key');
      entries.set(key, this.#child(pair.value as Node | null, path, keyLine));
    }
    for (const key of required) {
      if (!entries.has(key)) throw this.error(`missing key '${key}'`);
    }
    return entries;
  }

  list(): ConfigNode[] {
    if (!isSeq(this.node)) throw this.error(`expected a list, got ${this.describe()}`);
    return this.node.items.map((item, index) => this.#child(item as Node | null, `${this.keyPath}[${index}]`, this.line));
  }

  /** A list, or a single value taken as a list of one. */
  listOrOne(): ConfigNode[] {
    return isSeq(this.node) ? this.list() : [this];
  }

  string(): string {
    const value = this.#scalar();
    if (typeof value !== 'string' || value === '') throw this.error(`expected a non-empty string, got ${this.describe()}`);
    return value;
  }

  number(options: { min?: number; max?: number; integer?: boolean } = {}): number {
    const value = this.#scalar();
    if (typeof value !== 'number' || !Number.isFinite(value)) throw this.error(`expected a number, got ${this.describe()}`);
    if (options.integer && !Number.isInteger(value)) throw this.error(`expected an integer, got ${value}`);
    if (options.min !== undefined && value < options.min) throw this.error(`must be at least ${options.min}, got ${value}`);
    if (options.max !== undefined && value > options.max) throw this.error(`must be at most ${options.max}, got ${value}`);
    return value;
  }

  boolean(): boolean {
    const value = this.#scalar();
    if (typeof value !== 'boolean') throw this.error(`expected true or false, got ${this.describe()}`);
    return value;
  }

  #scalar(): unknown {
    return isScalar(this.node) ? this.node.value : undefined;
  }

  describe(): string {
    if (this.isNull) return 'nothing';
    if (isMap(this.node)) return 'a mapping';
    if (isSeq(this.node)) return 'a list';
    const value = this.#scalar();
    return typeof value === 'string' ? `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}'` : String(value);
  }
}

/** Parses `text` (YAML or JSON) read from `file`; its root node, or a ConfigFileError at the first syntax error. */
export function parseConfigText(text: string, file: string): ConfigNode {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const [first] = document.errors;
  if (first) {
    const line = lines.linePos(first.pos[0]).line;
    throw new ConfigFileError(file, line, '', first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''));
  }
  const root = document.contents as Node | null;
  return new ConfigNode(file, root, '', root?.range ? lines.linePos(root.range[0]).line : 1, lines);
}

/** Reads and parses configuration file `path` (at most MAX_CONFIG_BYTES). */
export function readConfigFile(path: string): ConfigNode {
  let bytes: Uint8Array;
  try {
    bytes = readFile(path, MAX_CONFIG_BYTES);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigFileError(path, 0, '', `cannot read the file (${reason})`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigFileError(path, 0, '', 'the file is not UTF-8 text');
  }
  return parseConfigText(text, path);
}
