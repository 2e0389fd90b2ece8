/** Parsing of `run`/`create` networking and storage flags into Engine API fields, as the docker CLI does. */

export type PortBindings = Record<string, Array<{ HostIp: string; HostPort: string }>>;

/** `-p [ip:][hostPort:]containerPort[/proto]` (IPv6 host addresses in brackets). */
export function parsePublish(specs: string[]): { exposed: Record<string, object>; bindings: PortBindings } {
  const exposed: Record<string, object> = {};
  const bindings: PortBindings = {};
  for (const spec of specs) {
    const [main = '', proto = 'tcp'] = spec.split('/');
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new Error(`invalid proto: ${proto}`);
    let ip = '';
    let rest = main;
    const v6 = /^\[([^\]]+)\]:(.*)$/.exec(main);
    if (v6) {
      ip = v6[1]!;
      rest = v6[2]!;
    }
    const parts = rest.split(':');
    if (!v6 && parts.length === 3) ip = parts.shift()!;
    if (parts.length > 2 || parts.some((p, i) => p === '' && i === parts.length - 1))
      throw new Error(`invalid port format: "${spec}"`);
    const containerPort = parts.at(-1)!;
    const hostPort = parts.length === 2 ? parts[0]! : '';
    for (const p of [containerPort, hostPort])
      if (p && !/^\d+$/.test(p)) throw new Error(`invalid containerPort: ${p}`);
    const key = `${containerPort}/${proto}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: ip, HostPort: hostPort });
  }
  return { exposed, bindings };
}

/** `--expose port[/proto]` */
export function parseExpose(specs: string[]): Record<string, object> {
  const out: Record<string, object> = {};
  for (const spec of specs) {
    const [port = '', proto = 'tcp'] = spec.split('/');
    if (!/^\d+$/.test(port)) throw new Error(`invalid range format for --expose: ${spec}`);
    out[`${port}/${proto}`] = {};
  }
  return out;
}

/** `--mount type=...,source=...,target=...[,readonly][,volume-nocopy][,bind-propagation=...][,tmpfs-size=...]` */
export function parseMount(spec: string): Record<string, unknown> {
  const m: Record<string, unknown> = { Type: 'volume' };
  for (const field of spec.split(',')) {
    const i = field.indexOf('=');
    const key = (i < 0 ? field : field.slice(0, i)).trim().toLowerCase();
    const value = i < 0 ? undefined : field.slice(i + 1);
    const flag = value === undefined || value === 'true' || value === '1';
    switch (key) {
      case 'type':
        m.Type = value;
        break;
      case 'source':
      case 'src':
        m.Source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.Target = value;
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = flag;
        break;
      case 'volume-nocopy':
        m.VolumeOptions = { ...(m.VolumeOptions as object), NoCopy: flag };
        break;
      case 'bind-propagation':
        m.BindOptions = { ...(m.BindOptions as object), Propagation: value };
        break;
      case 'tmpfs-size':
        m.TmpfsOptions = { ...(m.TmpfsOptions as object), SizeBytes: Number(value) };
        break;
      case 'tmpfs-mode':
        m.TmpfsOptions = { ...(m.TmpfsOptions as object), Mode: parseInt(value ?? '', 8) };
        break;
      default:
        throw new Error(`invalid field '${key}' must be a key=value pair`);
    }
  }
  return m;
}
