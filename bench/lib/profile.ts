/** Summaries of V8 CPU profiles (`node --cpu-prof`): where the samples' time went, by frame and by package. */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface Share {
  name: string;
  /** Self time, ms. */
  ms: number;
  /** % of the busy (non-idle) time. */
  pct: number;
}

export interface ProfileSummary {
  process: string;
  file: string;
  /** Wall time the summary covers (the window, if one was given), s. */
  spanS: number;
  /** Time the thread was busy (not idle), s. */
  busyS: number;
  topFrames: Share[];
  byPackage: Share[];
}

/** Where a frame's code lives: a package, a project folder, node's internals, or V8's own buckets. */
export function packageOf(frame: CallFrame, root: string): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName.startsWith('(')) return functionName; // (garbage collector), (idle), (program)
    return '(native)';
  }
  if (url.startsWith('node:')) {
    const parts = url.slice(5).split('/');
    return parts[0] === 'internal' && parts.length > 2 ? `node:internal/${parts[1] ?? ''}` : `node:${parts[0] ?? ''}`;
  }
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = path.slice(nm + '/node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? path);
  }
  if (path.startsWith(`${root}/`)) {
    const rel = path.slice(root.length + 1).split('/');
    return rel.length > 2 ? `${rel[0]}/${rel[1]}/` : rel.join('/');
  }
  return path;
}

function frameName(frame: CallFrame, root: string): string {
  const fn = frame.functionName || '(anonymous)';
  if (!frame.url) return fn;
  const path = frame.url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  const where = nm >= 0 ? path.slice(nm + '/node_modules/'.length) : path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path.replace(/^node:/, 'node:');
  return `${fn} ${where}:${frame.lineNumber + 1}`;
}

const IDLE = new Set(['(idle)']);

/** A span of the monotonic clock (µs, as process.hrtime and V8's profiles count it). */
export interface Window {
  fromUs: number;
  toUs: number;
}

/** Now on the clock V8 stamps its profile samples with (CLOCK_MONOTONIC, µs). */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** Self time by frame and by package; with `window`, only the samples taken within it (the load, not the start-up). */
export function summarise(profile: CpuProfile, processName: string, file: string, root: string, top = 12, window?: Window): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // A sample's time is the delta to the next sample; its timestamp the start plus every delta so far.
  let at = profile.startTime;
  let span = 0;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const id = samples[i] as number;
    const dt = (deltas[i + 1] ?? 0) / 1000;
    span += dt;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const frames = new Map<string, number>();
  const packages = new Map<string, number>();
  let busy = 0;
  for (const [id, ms] of self) {
    const node = byId.get(id);
    if (!node) continue;
    if (IDLE.has(node.callFrame.functionName)) continue;
    busy += ms;
    const f = frameName(node.callFrame, root);
    frames.set(f, (frames.get(f) ?? 0) + ms);
    const p = packageOf(node.callFrame, root);
    packages.set(p, (packages.get(p) ?? 0) + ms);
  }
  const shares = (m: Map<string, number>): Share[] =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, ms]) => ({ name, ms: Math.round(ms), pct: busy ? Math.round((1000 * ms) / busy) / 10 : 0 }));
  return {
    process: processName,
    file: basename(file),
    spanS: Math.round((window ? span : (profile.endTime - profile.startTime) / 1000) / 100) / 10,
    busyS: Math.round(busy / 100) / 10,
    topFrames: shares(frames),
    byPackage: shares(packages),
  };
}

export function summariseFile(file: string, processName: string, root: string, top = 12, window?: Window): ProfileSummary {
  return summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, processName, file, root, top, window);
}
