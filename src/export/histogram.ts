/**
 * ebpf_exporter's histogram buckets to Prometheus histograms. A BPF program
 * counts into bucket indexes (the last label of the map key); the exporter
 * turns indexes into upper bounds and makes the counts cumulative:
 * - exp2: index i counts values up to 2^i (× bucket_multiplier);
 * - exp2zero: index 0 counts zeros, index i up to 2^(i-1);
 * - linear: index i counts values up to i × bucket_multiplier;
 * - fixed: the keys listed in bucket_keys are the bounds themselves.
 * Missing indexes count zero, so every scrape has the same buckets. The
 * index after the last bucket, when the program fills it, holds the sum.
 */
import type { HistogramConfig } from './config.ts';

export interface PromHistogram {
  /** [upper bound, cumulative count], ascending; +Inf is `count`. */
  buckets: Array<[number, number]>;
  count: number;
  sum: number;
}

function upperBound(config: HistogramConfig, index: number): number {
  switch (config.bucketType) {
    case 'exp2':
      return 2 ** index * config.bucketMultiplier;
    case 'exp2zero':
      return index === 0 ? 0 : 2 ** (index - 1) * config.bucketMultiplier;
    case 'linear':
    case 'fixed':
      return index * config.bucketMultiplier;
  }
}

/** The bucket indexes a histogram exposes, in order. */
export function bucketIndexes(config: HistogramConfig): number[] {
  if (config.bucketType === 'fixed') return config.bucketKeys;
  return Array.from({ length: config.bucketMax - config.bucketMin + 1 }, (_, i) => config.bucketMin + i);
}

/** `counts` maps a bucket index to its (non-cumulative) count. */
export function toPromHistogram(config: HistogramConfig, counts: ReadonlyMap<number, number>): PromHistogram {
  const indexes = bucketIndexes(config);
  const buckets: Array<[number, number]> = [];
  let count = 0;
  for (const index of indexes) {
    count += counts.get(index) ?? 0;
    buckets.push([upperBound(config, index), count]);
  }
  const sum = (counts.get(indexes[indexes.length - 1]! + 1) ?? 0) * config.bucketMultiplier;
  return { buckets, count, sum };
}
