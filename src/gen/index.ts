/**
 * Generated TypeScript bindings for compiled objects (`tsbpf gen types`)
 * and the runtime they use.
 */
export { GenerateError, generateTypes, pascalCase, encodeBase64, type GenerateOptions } from './types.ts';
export { Skeleton, openSkeleton, type EventStream, type SkeletonObjects, type SkeletonOptions } from './skeleton.ts';
