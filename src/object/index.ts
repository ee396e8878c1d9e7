export * from './spec.ts';
export { ObjectError } from './errors.ts';
export { loadCollectionSpec } from './load.ts';
export { SECTION_DEFS, LEGACY_PREFIXES, classifySection, BPF_F_XDP_HAS_FRAGS } from './sections.ts';
export type { SectionDef, SectionInfo, SectionMatch, AttachTargetKind } from './sections.ts';
export { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG } from './maps.ts';
