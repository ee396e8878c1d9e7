/**
 * BCC-style tools built on tsbpf's own library: each is a function that
 * loads a CO-RE object (src/tools/bpf), attaches it and yields typed events
 * or interval summaries (an async iterable; profile and offcputime resolve
 * to their stack summary), plus a CLI definition that prints BCC's columns
 * or JSON lines. `tsbpf tool NAME` runs them.
 */
import type { ToolDefinition } from './definition.ts';
import { biolatencyTool } from './biolatency.ts';
import { execsnoopTool } from './execsnoop.ts';
import { offcputimeTool } from './offcputime.ts';
import { opensnoopTool } from './opensnoop.ts';
import { perfmonTool } from './perfmon.ts';
import { profileTool } from './profile.ts';
import { runqlatTool } from './runqlat.ts';
import { syscountTool } from './syscount.ts';
import { tcpconnectTool } from './tcpconnect.ts';
import { tcplifeTool } from './tcplife.ts';
import { topTool } from './top.ts';

export { ToolError, ToolUsageError } from './errors.ts';
export type { ToolDefinition } from './definition.ts';
export type { ToolRunOptions } from './runtime.ts';
export { toolObjectPath } from './objects.ts';
export { BuildError, bpfSourceNames, buildBpfObject, cannotCompileReason, exampleSource, findClang, prebuildAll, writeVmlinuxHeader } from './bpf-build.ts';
export { formatLog2Histogram, log2Buckets, type HistogramBucket } from './format.ts';
export { flameGraphSvg, parseFolded } from './flamegraph.ts';
export type { StackSample } from './stacks.ts';
export { opensnoop, opensnoopHeader, type OpenEvent, type OpensnoopOptions } from './opensnoop.ts';
export { execsnoop, execsnoopHeader, type ExecEvent, type ExecsnoopOptions } from './execsnoop.ts';
export { biolatency, type BiolatencyHistogram, type BiolatencyOptions } from './biolatency.ts';
export { tcpconnect, tcpconnectHeader, type ConnectEvent, type TcpconnectOptions } from './tcpconnect.ts';
export { tcplife, tcplifeHeader, type TcpSession, type TcplifeOptions } from './tcplife.ts';
export { syscount, syscallLabel, type SyscountInterval, type SyscountOptions, type SyscountRow } from './syscount.ts';
export { runqlat, type RunqlatHistogram, type RunqlatOptions } from './runqlat.ts';
export { offcputime, type OffcputimeOptions } from './offcputime.ts';
export { profile, type ProfileOptions } from './profile.ts';
export { perfmon, type PerfmonInterval, type PerfmonOptions, type ProcessSummary } from './perfmon.ts';
export { bpfTop, type ProgramActivity, type TopOptions, type TopSnapshot } from './top.ts';
export { EXPORTER_TOOLS } from './exporter.ts';
export * as ddos from './ddos/index.ts';
export * as lb from './lb/index.ts';
export * as audit from './audit/index.ts';
export { ConfigFileError } from './usecase-support/index.ts';

/** Every tool by name, in the order `tsbpf tool` lists them. */
export const TOOLS: Readonly<Record<string, ToolDefinition>> = Object.fromEntries(
  [opensnoopTool, execsnoopTool, biolatencyTool, tcpconnectTool, tcplifeTool, syscountTool, runqlatTool, offcputimeTool, profileTool, perfmonTool, topTool].map((t) => [t.name, t]),
);
