/**
 * The BTF type model (include/uapi/linux/btf.h). A type is a plain object,
 * discriminated on `kind`, carrying its own `id` and decoded `name` ('' for
 * anonymous types). Type ids referenced by a type (`type`, `elemType`,
 * member `type`...) index `Btf.types`.
 */
import { TsbpfError } from '../errors.ts';

/** A problem in BTF or BTF.ext data, naming where (type id, byte offset, section) and what. */
export class BtfError extends TsbpfError {
  override name = 'BtfError';
  constructor(
    message: string,
    /** Where the problem is, when it is tied to one: the type id or byte offset. */
    readonly context: { typeId?: number; offset?: number; section?: string } = {},
  ) {
    super(message);
  }
}

export type BtfKind =
  | 'int'
  | 'ptr'
  | 'array'
  | 'struct'
  | 'union'
  | 'enum'
  | 'fwd'
  | 'typedef'
  | 'volatile'
  | 'const'
  | 'restrict'
  | 'func'
  | 'func_proto'
  | 'var'
  | 'datasec'
  | 'float'
  | 'decl_tag'
  | 'type_tag'
  | 'enum64';

/** BTF_KIND_* numbers, index = kind number. */
export const KIND_BY_NUMBER: readonly (BtfKind | 'unknown')[] = [
  'unknown',
  'int',
  'ptr',
  'array',
  'struct',
  'union',
  'enum',
  'fwd',
  'typedef',
  'volatile',
  'const',
  'restrict',
  'func',
  'func_proto',
  'var',
  'datasec',
  'float',
  'decl_tag',
  'type_tag',
  'enum64',
];

export const KIND_NUMBER: Readonly<Record<BtfKind, number>> = Object.fromEntries(
  KIND_BY_NUMBER.map((k, i) => [k, i]).filter(([k]) => k !== 'unknown'),
) as Record<BtfKind, number>;

export type IntEncoding = 'none' | 'signed' | 'char' | 'bool';
/** BTF_FUNC_STATIC / GLOBAL / EXTERN. */
export type FuncLinkage = 'static' | 'global' | 'extern';
/** BTF_VAR_STATIC / GLOBAL_ALLOCATED / GLOBAL_EXTERN. */
export type VarLinkage = 'static' | 'global' | 'extern';

interface TypeBase {
  /** Type id (index in `Btf.types`). */
  id: number;
  /** Decoded name, '' when anonymous. */
  name: string;
}

export interface VoidType extends TypeBase {
  kind: 'void';
}
export interface IntType extends TypeBase {
  kind: 'int';
  size: number;
  encoding: IntEncoding;
  /** BTF_INT_OFFSET: bit offset of the value within `size` bytes (0 in practice). */
  offset: number;
  /** BTF_INT_BITS: number of value bits. */
  bits: number;
}
export interface FloatType extends TypeBase {
  kind: 'float';
  size: number;
}
/** Kinds that only point at another type. */
export interface RefType extends TypeBase {
  kind: 'ptr' | 'typedef' | 'volatile' | 'const' | 'restrict';
  type: number;
}
export interface TypeTagType extends TypeBase {
  kind: 'type_tag';
  type: number;
  /** kind_flag: the tag is `__attribute__((NAME))` rather than `btf_type_tag(NAME)`. */
  attribute: boolean;
}
export interface ArrayType extends TypeBase {
  kind: 'array';
  elemType: number;
  indexType: number;
  nelems: number;
}
export interface Member {
  /** '' for an anonymous struct/union member. */
  name: string;
  type: number;
  bitOffset: number;
  /** Bitfield width, 0 when the member is not a bitfield. */
  bitSize: number;
}
export interface CompositeType extends TypeBase {
  kind: 'struct' | 'union';
  size: number;
  members: Member[];
  /** kind_flag: member offsets carry bitfield sizes (set by the compiler when there are bitfields). */
  bitfieldEncoding: boolean;
}
export interface EnumValue {
  name: string;
  value: bigint;
}
export interface EnumType extends TypeBase {
  kind: 'enum' | 'enum64';
  size: number;
  signed: boolean;
  values: EnumValue[];
}
export interface FwdType extends TypeBase {
  kind: 'fwd';
  /** Forward declaration of a union (kind_flag) rather than a struct. */
  fwdKind: 'struct' | 'union';
}
export interface FuncType extends TypeBase {
  kind: 'func';
  /** The FUNC_PROTO id. */
  type: number;
  linkage: FuncLinkage;
}
export interface Param {
  name: string;
  /** 0 for the `...` of a variadic function (always last, unnamed). */
  type: number;
}
export interface FuncProtoType extends TypeBase {
  kind: 'func_proto';
  returnType: number;
  params: Param[];
}
export interface VarType extends TypeBase {
  kind: 'var';
  type: number;
  linkage: VarLinkage;
}
export interface VarSecinfo {
  /** A VAR (or FUNC, for `.ksyms` externs) type id. */
  type: number;
  offset: number;
  size: number;
}
export interface DatasecType extends TypeBase {
  kind: 'datasec';
  size: number;
  vars: VarSecinfo[];
}
export interface DeclTagType extends TypeBase {
  kind: 'decl_tag';
  type: number;
  /** -1 tags the type itself; otherwise the member or parameter index. */
  componentIdx: number;
  /** kind_flag: the tag is `__attribute__((NAME))` rather than `btf_decl_tag(NAME)`. */
  attribute: boolean;
}

export type BtfType =
  | VoidType
  | IntType
  | FloatType
  | RefType
  | TypeTagType
  | ArrayType
  | CompositeType
  | EnumType
  | FwdType
  | FuncType
  | FuncProtoType
  | VarType
  | DatasecType
  | DeclTagType;

/** Kinds that `Btf.resolve` looks through. */
export const isModifier = (t: BtfType): t is RefType | TypeTagType =>
  t.kind === 'typedef' || t.kind === 'const' || t.kind === 'volatile' || t.kind === 'restrict' || t.kind === 'type_tag';

export const isComposite = (t: BtfType): t is CompositeType => t.kind === 'struct' || t.kind === 'union';
export const isEnum = (t: BtfType): t is EnumType => t.kind === 'enum' || t.kind === 'enum64';
