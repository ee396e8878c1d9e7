import type { OptionValue } from './args.ts';

/** A tool as the CLI runs it: its usage, and a run that prints BCC's output (or JSON lines) until stopped. */
export interface ToolDefinition {
  readonly name: string;
  /** One line for `tsbpf help`. */
  readonly summary: string;
  readonly usage: string;
  /** Parses `args` (a ToolUsageError when wrong) and prints to `write` until done or `signal` aborts. */
  run(args: readonly string[], write: (text: string) => void, signal: AbortSignal): Promise<void>;
}

/** Typed reads of parsed option values. */
export const flag = (values: Record<string, OptionValue>, name: string): boolean => values[name] === true;
export const numberOption = (values: Record<string, OptionValue>, name: string): number | undefined => (typeof values[name] === 'number' ? values[name] : undefined);
export const stringOption = (values: Record<string, OptionValue>, name: string): string | undefined => (typeof values[name] === 'string' ? values[name] : undefined);
export const listOption = (values: Record<string, OptionValue>, name: string): number[] | undefined => (Array.isArray(values[name]) ? values[name] : undefined);

/** A line of JSON. */
export const jsonLine = (value: unknown): string => `${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}\n`;

/**
 * The print loop of an event tool: each event as a JSON line with --json,
 * else the tool's own line, given the seconds since the first event printed
 * (what BCC's -t columns show).
 */
export async function printEvents<E extends { timestampNs: bigint }>(events: AsyncIterable<E>, write: (text: string) => void, json: boolean, line: (event: E, secondsSinceFirst: number) => string): Promise<void> {
  let first: bigint | undefined;
  for await (const event of events) {
    if (json) {
      write(jsonLine(event));
      continue;
    }
    first ??= event.timestampNs;
    write(line(event, Number(event.timestampNs - first) / 1e9));
  }
}
