/**
 * The three PATCH formats of the Kubernetes API: JSON merge patch (RFC 7386), JSON patch (RFC 6902),
 * and strategic merge patch, where lists of objects merge by a key (containers by name, ports by
 * containerPort, ...) and directives (`$patch`, `$setElementOrder/<list>`, `$retainKeys`,
 * `$deleteFromPrimitiveList/<list>`) say how. No npm package implements strategic merge; this is the
 * subset kubectl's apply, patch, label, annotate and scale send.
 */
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export class PatchError extends Error {}

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObj(patch)) return patch;
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k] ?? null, v);
  }
  return out;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`invalid JSON pointer: ${path}`);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function jsonPatch(doc: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw new PatchError('a JSON patch must be an array of operations');
  let root = structuredClone(doc);
  const parentOf = (parts: string[]): { parent: Obj | Json[]; key: string } => {
    let cur: Json = root;
    for (const p of parts.slice(0, -1)) {
      const next: Json | undefined = Array.isArray(cur) ? cur[Number(p)] : isObj(cur) ? cur[p] : undefined;
      if (next === undefined || next === null || typeof next !== 'object')
        throw new PatchError(`path not found: /${parts.join('/')}`);
      cur = next;
    }
    return { parent: cur as Obj | Json[], key: parts.at(-1)! };
  };
  const get = (path: string): Json => {
    let cur: Json = root;
    for (const p of pointer(path)) {
      const next: Json | undefined = Array.isArray(cur) ? cur[Number(p)] : isObj(cur) ? cur[p] : undefined;
      if (next === undefined) throw new PatchError(`path not found: ${path}`);
      cur = next;
    }
    return cur;
  };
  const add = (path: string, value: Json): void => {
    const parts = pointer(path);
    if (!parts.length) {
      root = value;
      return;
    }
    const { parent, key } = parentOf(parts);
    if (Array.isArray(parent)) {
      const i = key === '-' ? parent.length : Number(key);
      if (!Number.isInteger(i) || i < 0 || i > parent.length) throw new PatchError(`index out of range: ${path}`);
      parent.splice(i, 0, value);
    } else parent[key] = value;
  };
  const remove = (path: string): Json => {
    const { parent, key } = parentOf(pointer(path));
    if (Array.isArray(parent)) {
      const i = Number(key);
      if (!(i >= 0 && i < parent.length)) throw new PatchError(`index out of range: ${path}`);
      return parent.splice(i, 1)[0]!;
    }
    if (!(key in parent)) throw new PatchError(`path not found: ${path}`);
    const v = parent[key]!;
    delete parent[key];
    return v;
  };
  for (const raw of ops) {
    if (!isObj(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string')
      throw new PatchError('each JSON patch operation needs "op" and "path"');
    const op = raw as { op: string; path: string; value?: Json; from?: string };
    switch (op.op) {
      case 'add':
        add(op.path, structuredClone(op.value ?? null));
        break;
      case 'remove':
        remove(op.path);
        break;
      case 'replace':
        remove(op.path);
        add(op.path, structuredClone(op.value ?? null));
        break;
      case 'move':
        add(op.path, remove(op.from ?? ''));
        break;
      case 'copy':
        add(op.path, structuredClone(get(op.from ?? '')));
        break;
      case 'test':
        if (JSON.stringify(get(op.path)) !== JSON.stringify(op.value))
          throw new PatchError(`test operation failed at ${op.path}`);
        break;
      default:
        throw new PatchError(`unknown JSON patch operation: ${op.op}`);
    }
  }
  return root;
}

/** Merge keys of lists of objects in the built-in types, by field name. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  tolerations: 'key',
  hostAliases: 'ip',
  conditions: 'type',
  ownerReferences: 'uid',
  finalizers: '',
  topologySpreadConstraints: 'topologyKey',
  ports: 'containerPort',
};

function mergeKeyFor(field: string, items: Json[]): string | undefined {
  if (field === 'ports' && items.some((i) => isObj(i) && 'port' in i && !('containerPort' in i))) return 'port';
  return MERGE_KEYS[field] || undefined;
}

export function strategicMergePatch(target: Json, patch: Json): Json {
  if (!isObj(patch)) return patch;
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return stripDirectives(rest);
  }
  if (patch.$patch === 'delete') return null;
  const out: Obj = isObj(target) ? { ...target } : {};
  const retain = Array.isArray(patch.$retainKeys) ? (patch.$retainKeys as string[]) : undefined;
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) {
      const m = /^\$deleteFromPrimitiveList\/(.+)$/.exec(k);
      if (m && Array.isArray(v) && Array.isArray(out[m[1]!]))
        out[m[1]!] = (out[m[1]!] as Json[]).filter((x) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const cur = out[k];
    if (Array.isArray(v)) {
      const key = mergeKeyFor(k, [...v, ...(Array.isArray(cur) ? cur : [])]);
      if (key && Array.isArray(cur)) out[k] = mergeList(cur, v, key, patch[`$setElementOrder/${k}`]);
      else out[k] = v.filter((x) => !(isObj(x) && x.$patch === 'delete')).map(stripDirectives);
    } else if (isObj(v)) out[k] = strategicMergePatch(cur ?? null, v);
    else out[k] = v;
  }
  if (retain) for (const k of Object.keys(out)) if (!retain.includes(k) && !(k in patch)) delete out[k];
  return out;
}

function mergeList(cur: Json[], patch: Json[], key: string, order: Json | undefined): Json[] {
  const out = [...cur];
  for (const item of patch) {
    if (!isObj(item)) continue;
    const i = out.findIndex((x) => isObj(x) && x[key] === item[key]);
    if (item.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = strategicMergePatch(out[i]!, item);
    else out.push(stripDirectives(item));
  }
  if (Array.isArray(order)) {
    const rank = (x: Json): number => {
      const i = order.findIndex((o) => isObj(o) && isObj(x) && o[key] === x[key]);
      return i < 0 ? order.length : i;
    };
    out.sort((a, b) => rank(a) - rank(b));
  }
  return out;
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}
