// Summarises a V8 heap snapshot (`.heapsnapshot`, as written by --heapsnapshot-signal or
// v8.writeHeapSnapshot): self size and count per node type and name, and the retained size of the
// largest Maps and Sets (what owns memory per credential).
//
//   node test/bench/heap-summary.ts FILE [--top 40] [--per N]
//
// --per N divides sizes by N (e.g. the number of credentials) to show bytes per credential.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
    node_count: number;
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '40' }, per: { type: 'string' } },
});
const file = positionals[0];
if (file === undefined) {
  process.stderr.write('usage: node test/bench/heap-summary.ts FILE [--top 40] [--per N]\n');
  process.exit(2);
}
const top = Number(values.top);
const per = values.per === undefined ? undefined : Number(values.per);

const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const { meta } = snap.snapshot;
const nodeFields = meta.node_fields.length;
const edgeFields = meta.edge_fields.length;
const nType = meta.node_fields.indexOf('type');
const nName = meta.node_fields.indexOf('name');
const nSelf = meta.node_fields.indexOf('self_size');
const nEdges = meta.node_fields.indexOf('edge_count');
const eType = meta.edge_fields.indexOf('type');
const eName = meta.edge_fields.indexOf('name_or_index');
const eTo = meta.edge_fields.indexOf('to_node');
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const weakEdge = edgeTypes.indexOf('weak');
const shortcutEdge = edgeTypes.indexOf('shortcut');
const { nodes, edges, strings } = snap;
const count = nodes.length / nodeFields;

const typeOf = (i: number): string => nodeTypes[nodes[i * nodeFields + nType] ?? 0] ?? '?';
const nameOf = (i: number): string => strings[nodes[i * nodeFields + nName] ?? 0] ?? '?';
const selfOf = (i: number): number => nodes[i * nodeFields + nSelf] ?? 0;

// First edge of each node.
const firstEdge = new Uint32Array(count + 1);
for (let i = 0; i < count; i++)
  firstEdge[i + 1] = (firstEdge[i] ?? 0) + (nodes[i * nodeFields + nEdges] ?? 0);

// Retained sizes via dominators (Cooper-Harvey-Kennedy on a reverse post-order), ignoring weak edges.
const strongTargets = (i: number, visit: (to: number) => void): void => {
  for (let e = firstEdge[i] ?? 0; e < (firstEdge[i + 1] ?? 0); e++) {
    const type = edges[e * edgeFields + eType];
    if (type === weakEdge || type === shortcutEdge) continue;
    visit((edges[e * edgeFields + eTo] ?? 0) / nodeFields);
  }
};
const postOrder = new Int32Array(count).fill(-1);
const order: number[] = [];
{
  const stack: number[] = [0];
  const cursor = new Uint32Array(count);
  const seen = new Uint8Array(count);
  seen[0] = 1;
  cursor[0] = firstEdge[0] ?? 0;
  while (stack.length > 0) {
    const node = stack[stack.length - 1] ?? 0;
    let pushed = false;
    while ((cursor[node] ?? 0) < (firstEdge[node + 1] ?? 0)) {
      const e = cursor[node] ?? 0;
      cursor[node] = e + 1;
      const type = edges[e * edgeFields + eType];
      if (type === weakEdge || type === shortcutEdge) continue;
      const to = (edges[e * edgeFields + eTo] ?? 0) / nodeFields;
      if (seen[to] === 1) continue;
      seen[to] = 1;
      cursor[to] = firstEdge[to] ?? 0;
      stack.push(to);
      pushed = true;
      break;
    }
    if (!pushed) {
      stack.pop();
      postOrder[node] = order.length;
      order.push(node);
    }
  }
}
const predecessors: number[][] = Array.from({ length: count }, () => []);
for (let i = 0; i < count; i++) {
  if (postOrder[i] === -1) continue;
  strongTargets(i, (to) => {
    if (postOrder[to] !== -1) predecessors[to]?.push(i);
  });
}
const idom = new Int32Array(count).fill(-1);
idom[0] = 0;
const intersect = (a: number, b: number): number => {
  let x = a;
  let y = b;
  while (x !== y) {
    while ((postOrder[x] ?? 0) < (postOrder[y] ?? 0)) x = idom[x] ?? 0;
    while ((postOrder[y] ?? 0) < (postOrder[x] ?? 0)) y = idom[y] ?? 0;
  }
  return x;
};
for (let changed = true; changed;) {
  changed = false;
  for (let k = order.length - 2; k >= 0; k--) {
    const node = order[k] ?? 0;
    let dom = -1;
    for (const p of predecessors[node] ?? []) {
      if (idom[p] === -1) continue;
      dom = dom === -1 ? p : intersect(p, dom);
    }
    if (dom !== -1 && idom[node] !== dom) {
      idom[node] = dom;
      changed = true;
    }
  }
}
const retained = new Float64Array(count);
for (let i = 0; i < count; i++) retained[i] = selfOf(i);
for (const node of order) {
  const dom = idom[node] ?? -1;
  if (node !== 0 && dom !== -1) retained[dom] = (retained[dom] ?? 0) + (retained[node] ?? 0);
}

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1).padStart(8);
const perUnit = (bytes: number): string =>
  per === undefined ? '' : `${(bytes / per).toFixed(0).padStart(9)} B/N`;

let total = 0;
let reachable = 0;
const byName = new Map<string, { self: number; count: number }>();
for (let i = 0; i < count; i++) {
  total += selfOf(i);
  if (postOrder[i] === -1) continue;
  reachable += selfOf(i);
  const type = typeOf(i);
  const label =
    type === 'object' || type === 'closure' || type === 'native'
      ? `${type} ${nameOf(i)}`
      : type === 'hidden' || type === 'code' || type === 'array'
        ? `${type} ${nameOf(i).slice(0, 60)}`
        : type;
  const entry = byName.get(label) ?? { self: 0, count: 0 };
  entry.self += selfOf(i);
  entry.count += 1;
  byName.set(label, entry);
}
const out: string[] = [];
out.push(file);
out.push(`nodes ${String(count)}, self sizes ${mib(total)} MiB, reachable ${mib(reachable)} MiB`);
out.push('', `top ${String(top)} by self size (MiB, count):`);
for (const [label, entry] of [...byName].sort((a, b) => b[1].self - a[1].self).slice(0, top))
  out.push(`${mib(entry.self)} ${String(entry.count).padStart(9)}  ${perUnit(entry.self)}  ${label}`);

// The largest retainers that are collections or named class instances.
const candidates: number[] = [];
for (let i = 0; i < count; i++) {
  if (postOrder[i] === -1 || typeOf(i) !== 'object') continue;
  if ((retained[i] ?? 0) < 256 * 1024) continue;
  candidates.push(i);
}
candidates.sort((a, b) => (retained[b] ?? 0) - (retained[a] ?? 0));
out.push('', `objects retaining >= 256 KiB (MiB retained, then its first retainers):`);
const edgeNameTo = (from: number, to: number): string => {
  for (let e = firstEdge[from] ?? 0; e < (firstEdge[from + 1] ?? 0); e++) {
    if ((edges[e * edgeFields + eTo] ?? 0) / nodeFields !== to) continue;
    const type = edgeTypes[edges[e * edgeFields + eType] ?? 0];
    const name = edges[e * edgeFields + eName] ?? 0;
    return type === 'element' || type === 'hidden' ? `[${String(name)}]` : (strings[name] ?? '?');
  }
  return '?';
};
for (const i of candidates.slice(0, top)) {
  const path: string[] = [];
  let node = i;
  for (let depth = 0; depth < 4 && node !== 0; depth++) {
    const retainer = predecessors[node]?.[0];
    if (retainer === undefined) break;
    path.unshift(`${nameOf(retainer).slice(0, 30)}.${edgeNameTo(retainer, node)}`);
    node = retainer;
  }
  out.push(
    `${mib(retained[i] ?? 0)}  ${perUnit(retained[i] ?? 0)}  ${nameOf(i).slice(0, 40)}  <- ${path.join(' > ')}`,
  );
}
process.stdout.write(`${out.join('\n')}\n`);
