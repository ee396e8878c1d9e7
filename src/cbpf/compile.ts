/**
 * pcap_compile: a pcap-filter expression to a checked classic program.
 */
import { DLT_EN10MB, DLT_RAW } from './codegen.ts';
import { linearize } from './linearize.ts';
import type { CbpfInstruction } from './opcodes.ts';
import { optimize, OptimizeError } from './optimize.ts';
import { CbpfCheckError, FilterSyntaxError } from './errors.ts';
import { FilterParser } from './parser.ts';
import { checkCbpf } from './checker.ts';

/** The link types filters compile for: Ethernet (DLT_EN10MB) and raw IP (DLT_RAW, packets start at the IP header). */
export const FilterLinkType = { EN10MB: DLT_EN10MB, RAW: DLT_RAW } as const;

export interface CompileOptions {
  /** DLT_EN10MB (1, the default) or DLT_RAW (101). */
  linkType?: number;
  /** Run libpcap's optimiser (default true; tcpdump -O turns it off). */
  optimize?: boolean;
  /** What an accepted packet returns: the snapshot length (default 262144, as tcpdump). */
  snaplen?: number;
  /** The IPv4 netmask `ip broadcast` uses (default 0, as tcpdump reading a file). */
  netmask?: number;
}

/** Compiles a filter expression; throws FilterSyntaxError naming the column and the problem. */
export function compileFilter(expression: string, options: CompileOptions = {}): CbpfInstruction[] {
  const parser = new FilterParser(expression, { linkType: options.linkType ?? DLT_EN10MB, netmask: options.netmask ?? 0, snaplen: options.snaplen ?? 262144 });
  const root = parser.parse();
  let program: CbpfInstruction[];
  try {
    program = options.optimize === false ? linearize(root) : optimize(root);
  } catch (error) {
    if (error instanceof OptimizeError) throw new FilterSyntaxError(error.message, expression, 0);
    throw error;
  }
  try {
    checkCbpf(program);
  } catch (error) {
    // The one rule generated code can break: the kernel's 4096-instruction limit.
    if (error instanceof CbpfCheckError) throw new FilterSyntaxError(`expression too complex: ${error.message}`, expression, 0);
    throw error;
  }
  return program;
}
