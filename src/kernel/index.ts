/** The Linux kernel backend: bpf(), maps, programs, links, readers, probes, collections. */
export * from '../backend/index.ts';
export { BpfSyscallError, SyscallError, ClosedError, NotSupportedError, KernelArgumentError, type Capability } from './errors.ts';
export { closeAll, openFdCount } from './fd.ts';
export { KernelMap, MapFlags, possibleCpus, parseCpuList, pinObject, openPinned, ensureBpffs, BPFFS, type MapOptions } from './map.ts';
export { KernelProgram, TestRunFlags, type ProgramOptions, type VerifierStats } from './program.ts';
export { ProgramFlags } from '../uapi/enums.ts';
export {
  type Link,
  KernelLink,
  LinkGroup,
  attachTracepoint,
  attachRawTracepoint,
  attachTracing,
  tracingTargetBtfId,
  attachUprobe,
  attachKprobe,
  attachCpuClockSampling,
  attachPerfEventSampling,
  type SamplingEvent,
  attachXdp,
  attachTcx,
  attachSocketFilter,
  attachClassicFilter,
  attachCgroup,
  attachCgroupLegacy,
  ProgAttachFlags,
  cgroup2Mount,
  resolveInterface,
  type UprobeOptions,
  type XdpMode,
} from './link.ts';
export { closeLinksConcurrently, type CloseLinksOptions } from './detach.ts';
export { RingBufferReader, type RecordCallback } from './ringbuf.ts';
export { PerfEventArrayReader, type PerfReaderOptions, type PerfSample } from './perfbuf.ts';
export { listIds, fdById, programInfo, programXlated, mapInfo, linkInfo, btfInfo, btfData, withObjectFd, enableRunTimeStats, PERF_EVENT_TYPE_NAMES, type ProgramInfo, type MapInfo, type LinkInfo, type BtfInfo, type ObjectKind } from './info.ts';
export { probeAll, probeMapTypes, probeProgramTypes, probeHelpers, probeLinkKinds, type FeatureReport, type FeatureResult, type FeatureState } from './features.ts';
export { loadCollection, KernelCollection, KernelLinks, KernelBtf, CollectionLoadError, kernelObjectName, type CollectionOptions } from './collection.ts';
export { KsymError, POISON_CALL_KFUNC_BASE, applyKsym, kernelCompatibleBtf, resolveKsyms, type KsymResolution } from './ksyms.ts';
export { attachFromSection, parseUprobeTarget, resolveUprobeBinary, type NoAttachPoint } from './section-attach.ts';
export { withNetworkNamespace } from './netns.ts';
export { findFunctionOffset, type SymbolLocation } from './elf-symbols.ts';
export { PerfType, tracefs, tracepointId } from './perf.ts';
export { ElfSymbols, KernelSymbols, ProcessSymbols, ProcessSymbolsCache, formatSymbol, stackAddresses, symbolizeStack, type ResolvedSymbol } from './symbolize.ts';
export { bigintJson, hex as hexBytes } from './format.ts';
