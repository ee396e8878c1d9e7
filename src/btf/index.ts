export * from './types.ts';
export * from './btf.ts';
export * from './ext.ts';
export * from './raw.ts';
export * from './core.ts';
export * from './format.ts';
export * from './value.ts';
