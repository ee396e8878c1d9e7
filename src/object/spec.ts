/**
 * What the object loader produces: a description of the programs, maps and
 * global variables of a compiled BPF object, modelled on cilium/ebpf's
 * CollectionSpec. Everything except `btf` is plain data (structuredClone-able)
 * and may be edited before the collection is loaded by a backend (the kernel
 * backend or the VM): change map sizes, set `.rodata` constants, drop
 * programs, replace instructions.
 *
 * Instruction indexes (`insnIndex`) always count 8-byte slots of the
 * program's *linked* instruction array, as the kernel does.
 */
import type { Instruction } from '../isa/instruction.ts';
import type { AttachType, MapType, ProgramType } from '../uapi/enums.ts';
import type { Btf } from '../btf/index.ts';
import type { CoreRelocation, FuncInfo, LineInfo } from '../btf/ext.ts';

export type { CoreRelocation, FuncInfo, LineInfo };

export type ByteOrder = 'little' | 'big';

export interface CollectionSpec {
  /** Programs by function name. */
  programs: Record<string, ProgramSpec>;
  /**
   * Maps by name: BTF (`.maps`) and legacy (`maps`) definitions by symbol
   * name, global data by section name (`.data`, `.rodata`, `.bss`,
   * `.data.foo`, `.kconfig`), like libbpf's internal maps.
   */
  maps: Record<string, MapSpec>;
  /** Global variables (in `.data*`, `.rodata*`, `.bss*`) by symbol name. */
  variables: Record<string, VariableSpec>;
  /** `.kconfig` and `.ksyms` externs by name, resolved at load time. */
  externs: Record<string, ExternSpec>;
  /** The object's BTF, if it has a `.BTF` section. */
  btf?: Btf;
  byteOrder: ByteOrder;
  /** Contents of the `license` section ('' when absent). */
  license: string;
  /** Contents of the `version` section (LINUX_VERSION_CODE), 0 when absent. */
  kernelVersion: number;
}

export interface ProgramSpec {
  /** Name of the entry function's symbol. */
  name: string;
  /** ELF section the function lives in, e.g. `tracepoint/syscalls/sys_enter_openat`. */
  section: string;
  /** 0 (BPF_PROG_TYPE_UNSPEC) when the section name does not say: set it before loading. */
  type: ProgramType | 0;
  expectedAttachType?: AttachType;
  /**
   * Attach target parsed from the section name, when the section encodes one:
   * the tracepoint `category/name`, the raw tracepoint, the kprobe function
   * (`func` or `func+offset`), the uprobe `binary:function`, the fentry/LSM
   * BTF function name, the iterator name, the struct_ops member... Absent
   * when the section name carries no target.
   */
  attachTo?: string;
  /** `.s` sections: the program may sleep (BPF_F_SLEEPABLE). */
  sleepable: boolean;
  /** BPF_PROG_LOAD prog_flags implied by the section besides BPF_F_SLEEPABLE (BPF_F_XDP_HAS_FRAGS for `xdp.frags`). */
  programFlags: number;
  /**
   * The entry function followed by every subprogram it reaches, transitively,
   * each once; bpf-to-bpf call and function-pointer offsets already point at
   * the appended copies.
   */
  instructions: Instruction[];
  /** Where each function of the linked program starts (the entry function is at 0). */
  functions: FunctionSymbol[];
  /** Instructions that need a value only known at load time (map fds, externs). */
  relocations: Relocation[];
  /** CO-RE relocations, indexed to `instructions`. */
  coreRelocations: CoreRelocation[];
  /** BTF func_info, one per function of the linked program, sorted by insnIndex. */
  funcInfo: FuncInfo[];
  /** BTF line_info, sorted by insnIndex. */
  lineInfo: LineInfo[];
  license: string;
  kernelVersion: number;
  btf?: Btf;
}

export interface FunctionSymbol {
  name: string;
  insnIndex: number;
}

/**
 * A use of something only known at load time, at `insnIndex` of the linked
 * program. The loader leaves the instruction as the compiler emitted it with
 * `src` already set to the pseudo source the kernel expects; the backend
 * fills `imm`.
 */
export type Relocation = MapRelocation | MapValueRelocation | KconfigRelocation | KsymRelocation | CallbackRelocation;

/** `lddw rX, map` (src = BPF_PSEUDO_MAP_FD): the backend puts the map's fd (or index) in imm. */
export interface MapRelocation {
  kind: 'map';
  insnIndex: number;
  mapName: string;
}

/**
 * `lddw rX, map_value + offset` (src = BPF_PSEUDO_MAP_VALUE): a global
 * variable's address. The second slot's imm holds `offset`.
 */
export interface MapValueRelocation {
  kind: 'mapValue';
  insnIndex: number;
  mapName: string;
  offset: number;
}

/**
 * A `.kconfig` extern (CONFIG_*, LINUX_KERNEL_VERSION, ...): the instruction
 * addresses the `.kconfig` map's value at `offset`, as a map-value
 * relocation; the backend fills the map from the running kernel.
 */
export interface KconfigRelocation {
  kind: 'kconfig';
  insnIndex: number;
  externName: string;
  mapName: string;
  offset: number;
}

/**
 * A `.ksyms` extern. A kernel variable is an `lddw` (src = BPF_PSEUDO_BTF_ID
 * when typed); a kernel function (kfunc) is a `call` with src =
 * BPF_PSEUDO_KFUNC_CALL. The backend finds the BTF id in vmlinux or a module.
 */
export interface KsymRelocation {
  kind: 'ksym';
  insnIndex: number;
  externName: string;
  isFunction: boolean;
}

/**
 * `lddw rX, subprogram` (src = BPF_PSEUDO_FUNC), e.g. bpf_loop's callback.
 * Already linked: imm is the pc-relative offset to the function's copy.
 */
export interface CallbackRelocation {
  kind: 'callback';
  insnIndex: number;
  functionName: string;
  targetIndex: number;
}

export type Pinning = 'none' | 'by-name';

export interface MapSpec {
  name: string;
  type: MapType;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  mapExtra?: bigint;
  numaNode?: number;
  pinning: Pinning;
  /** Template of the inner maps of an ARRAY_OF_MAPS / HASH_OF_MAPS. */
  innerMap?: MapSpec;
  /** Initial entries (`values` initialisers of BTF maps, or added by the user). */
  contents: MapEntry[];
  /** Initial value of a global data map (`.data*`, `.rodata*`; zeros for `.bss*`). */
  initialData?: Uint8Array;
  /** Global data the program may not write (`.rodata*`, `.kconfig`): created with BPF_F_RDONLY_PROG. */
  readOnly: boolean;
  /** Freeze after filling (`.rodata*`, `.kconfig`), so the verifier can treat contents as constants. */
  frozen: boolean;
  /** The ELF section of the definition (`.maps`, `maps`, `.data`...). */
  section: string;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  btfVmlinuxValueTypeId?: number;
  /** What a legacy (`maps`, `maps/NAME`) definition holds beyond the fields above, as read. */
  legacy?: LegacyMapFields;
}

/**
 * Fields of a legacy map definition. `pinning` is the raw value: 1
 * (PIN_OBJECT_NS) and 2 (PIN_GLOBAL_NS) make the map `pinning: 'by-name'`;
 * loader-specific values (iproute2's custom namespaces from
 * /etc/iproute2/bpf_pinning, Cilium's CILIUM_PIN_REPLACE = 16, gobpf's
 * PIN_CUSTOM_NS = 3) are kept here and not pinned.
 */
export interface LegacyMapFields {
  /** libbpf's struct bpf_map_def, samples/bpf's bpf_load.c one (with inner_map_idx and numa_node), iproute2's (and Cilium's) struct bpf_elf_map, or gobpf's 280-byte bpf_map_def. */
  layout: 'bpf_map_def' | 'bpf_load_map_def' | 'bpf_elf_map' | 'gobpf';
  /** bpf_load_map_def: the map-in-map's inner template, by position among the section's maps. */
  innerMapIndex?: number;
  pinning?: number;
  /** bpf_elf_map: `id`, and the map-in-map link `inner_id` / `inner_idx`. */
  id?: number;
  innerId?: number;
  innerIndex?: number;
  /** gobpf: the pin namespace (PIN_CUSTOM_NS). */
  namespace?: string;
}

/**
 * An initial map entry. For prog arrays the value names a program of the
 * collection, for map-in-maps a map of the collection; otherwise the value is
 * raw bytes of `valueSize`.
 */
export interface MapEntry {
  key: Uint8Array | number;
  value: Uint8Array | { program: string } | { map: string };
}

/** A global variable: `size` bytes at `offset` in `mapName`'s `initialData`. */
export interface VariableSpec {
  name: string;
  mapName: string;
  offset: number;
  size: number;
  /** BTF type of the variable (the VAR's type) when the object has BTF. */
  typeId?: number;
  /** Static (file-local) symbol rather than global. */
  isStatic: boolean;
}

export interface ExternSpec {
  name: string;
  kind: 'kconfig' | 'ksym';
  /** __weak: an unresolved extern reads as zero (kconfig) / 0 address (ksym) instead of failing. */
  weak: boolean;
  /** BTF type of the extern (the VAR's or FUNC's) when the object has BTF. */
  typeId?: number;
  /** kconfig: offset and size in the `.kconfig` map. */
  offset?: number;
  size?: number;
  /** ksym: a kernel function (kfunc) rather than a variable. */
  isFunction?: boolean;
}
