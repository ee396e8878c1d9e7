export * from './types.ts';
export * from './btf.ts';
