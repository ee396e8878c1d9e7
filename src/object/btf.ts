/**
 * The BTF type the object loader hands out. Until src/btf lands this is an
 * opaque handle; it becomes a re-export of src/btf's Btf class.
 */
export interface Btf {
  readonly types: readonly unknown[];
}
