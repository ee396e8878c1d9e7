/** The C fixtures of test/fixtures/object, by base name. */
export const FIXTURES = ['btf_maps', 'legacy_maps', 'iproute2_maps', 'cilium_maps', 'gobpf_maps', 'globals', 'subprogs', 'core', 'externs', 'sections'];
