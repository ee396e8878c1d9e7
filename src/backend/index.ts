/**
 * The backend-neutral contract: the map and program interfaces that both
 * the kernel backend (src/kernel) and the VM (src/vm, src/maps) implement.
 * It belongs to neither backend, so the VM side never names `kernel/`.
 */
export * from './interface.ts';
export * from './typed-map.ts';
export * from './collection.ts';
