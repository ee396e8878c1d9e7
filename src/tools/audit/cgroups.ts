/**
 * cgroup v2 ids (what bpf_get_current_cgroup_id returns: the cgroup
 * directory's inode number) mapped to paths, and container ids read from
 * those paths as the container runtimes name their cgroups.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Where cgroup v2 is mounted: /sys/fs/cgroup on unified systems, /sys/fs/cgroup/unified on hybrid ones. */
export function cgroup2Mount(mountinfo = '/proc/self/mountinfo'): string | undefined {
  for (const line of readFileSync(mountinfo, 'utf8').split('\n')) {
    // "36 25 0:30 / /sys/fs/cgroup rw,... - cgroup2 cgroup2 rw": the filesystem type follows " - ".
    const [before, after] = line.split(' - ');
    if (after?.split(' ')[0] === 'cgroup2') return before!.split(' ')[4]!.replace(/\\040/g, ' ');
  }
  return undefined;
}

export interface Container {
  /** docker, containerd, cri-o, podman. */
  runtime: string;
  /** The full 64-hex-digit id. */
  id: string;
  /** Kubernetes pod UID, when the path has a kubepods slice. */
  pod?: string;
}

const RUNTIMES: Array<[RegExp, string]> = [
  [/(?:^|\/)docker-([0-9a-f]{64})\.scope(?:\/|$)/, 'docker'],
  [/(?:^|\/)docker\/([0-9a-f]{64})(?:\/|$)/, 'docker'],
  [/(?:^|\/)cri-containerd-([0-9a-f]{64})\.scope(?:\/|$)/, 'containerd'],
  [/(?:^|\/)crio-([0-9a-f]{64})\.scope(?:\/|$)/, 'cri-o'],
  [/(?:^|\/)libpod-([0-9a-f]{64})\.scope(?:\/|$)/, 'podman'],
  [/(?:^|\/)libpod-([0-9a-f]{64})(?:\/|$)/, 'podman'],
  // cgroupfs driver under kubepods: .../kubepods/besteffort/pod<uid>/<id>
  [/(?:^|\/)kubepods[^/]*\/(?:[^/]+\/)*pod[0-9a-f-]{36}\/([0-9a-f]{64})(?:\/|$)/, 'kubernetes'],
];

/** The container a cgroup path belongs to, if its path names one (the innermost). */
export function containerOf(path: string): Container | undefined {
  let best: { index: number; container: Container } | undefined;
  for (const [pattern, runtime] of RUNTIMES) {
    const match = pattern.exec(path);
    if (match && (best === undefined || match.index > best.index)) best = { index: match.index, container: { runtime, id: match[1]! } };
  }
  if (!best) return undefined;
  const pod = /kubepods[^/]*?-pod([0-9a-f_]{36})\.slice|\/pod([0-9a-f-]{36})\//.exec(path);
  if (pod) best.container.pod = (pod[1] ?? pod[2])!.replaceAll('_', '-');
  return best.container;
}

/**
 * cgroup id → path relative to the cgroup2 mount ("/a.slice/b.scope"),
 * from a walk of the hierarchy, walked again (at most once a second) when
 * an id is not known yet: cgroups come and go.
 */
export class CgroupPaths {
  #paths = new Map<bigint, string>();
  #walkedAt = 0;

  constructor(readonly root: string | undefined = cgroup2Mount()) {}

  #walk(): void {
    this.#walkedAt = Date.now();
    const root = this.root;
    if (root === undefined) return;
    const paths = new Map<bigint, string>();
    const visit = (dir: string, relative: string, depth: number): void => {
      let entries;
      try {
        paths.set(statSync(dir, { bigint: true }).ino, relative || '/');
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return; // removed while walking
      }
      if (depth >= 32) return;
      for (const entry of entries) if (entry.isDirectory()) visit(join(dir, entry.name), `${relative}/${entry.name}`, depth + 1);
    };
    visit(root, '', 0);
    this.#paths = paths;
  }

  /**
   * The path of cgroup `id`, or undefined if no cgroup has it (any more).
   * A new cgroup is found through `pid`'s /proc/PID/cgroup when the
   * process still runs (a container's first exec comes right after its
   * cgroup is made), else by walking the tree again, at most once a second.
   */
  pathOf(id: bigint, pid?: number): string | undefined {
    const known = this.#paths.get(id);
    if (known !== undefined) return known;
    const fromProcess = pid === undefined ? undefined : this.#fromProcess(id, pid);
    if (fromProcess !== undefined) return fromProcess;
    if (Date.now() - this.#walkedAt >= 1000 || this.#walkedAt === 0) this.#walk();
    return this.#paths.get(id);
  }

  #fromProcess(id: bigint, pid: number): string | undefined {
    if (this.root === undefined) return undefined;
    try {
      const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
      const path = line?.slice(3);
      if (!path?.startsWith('/') || path.includes('/../')) return undefined;
      // The process may have moved since the event: the path counts only if it is still cgroup `id`.
      if (statSync(join(this.root, path), { bigint: true }).ino !== id) return undefined;
      this.#paths.set(id, path);
      return path;
    } catch {
      return undefined; // the process or its cgroup is gone
    }
  }

  /** Forgets what the last walk saw, so the next unknown id walks again at once. */
  refresh(): void {
    this.#walk();
  }
}
