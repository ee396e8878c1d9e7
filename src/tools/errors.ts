import { TsbpfError } from '../errors.ts';

/** A tool that cannot run: its BPF object is missing or cannot be built, a bad option value, an unreadable input. */
export class ToolError extends TsbpfError {
  override name = 'ToolError';
}

/** Wrong command-line arguments for a tool (the CLI prints them with the tool's usage). */
export class ToolUsageError extends ToolError {
  override name = 'ToolUsageError';
}
