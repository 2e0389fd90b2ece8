/**
 * What the node agent needs of a container runtime, as the kubelet's CRI: pod sandboxes and their
 * containers, found again by labels, inspected, made, stopped and removed, and a stream of their
 * lifecycle events for the PLEG. `EngineRuntime` implements it over Gantry's own Docker Engine API, as
 * dockershim did: a sandbox is an infrastructure container holding the pod's network namespace,
 * containers join it, names and `io.kubernetes.*` labels identify them.
 */
import { ApiError as EngineError, type ApiClient as EngineClient } from '../../api/docker/client.js';
import type { PodNetwork } from './podnetwork.js';
import type { RegistryAuth } from './pullsecrets.js';
import { encodeAuthHeader } from '../../registry/auth.js';

export const LABEL = {
  pod: 'io.kubernetes.pod.name',
  namespace: 'io.kubernetes.pod.namespace',
  uid: 'io.kubernetes.pod.uid',
  container: 'io.kubernetes.container.name',
  node: 'io.gantry.node',
};
/** The container name of a pod's sandbox. */
export const SANDBOX = 'POD';

export interface RuntimeContainer {
  id: string;
  /** The runtime's name: `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`. */
  runtimeName: string;
  /** The pod's container name (`SANDBOX` for the sandbox). */
  name: string;
  podUid: string;
  state: 'created' | 'running' | 'exited' | string;
  /** The image as the pod named it (cAdvisor's `image` label). */
  image?: string;
}

export interface ContainerDetails {
  id: string;
  imageId: string;
  running: boolean;
  status: string;
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  oomKilled: boolean;
  restartCount: number;
  /** The pod's address, for a sandbox. */
  ip?: string;
  /** The process holding the container's namespaces while it runs. */
  pid?: number;
}

export interface DnsConfig {
  servers: string[];
  search: string[];
  options: string[];
}

export interface SandboxSpec {
  runtimeName: string;
  image: string;
  hostname: string;
  labels: Record<string, string>;
  dns?: DnsConfig;
}

export interface ContainerRunSpec {
  runtimeName: string;
  sandboxId: string;
  image: string;
  hostname: string;
  command?: string[];
  args?: string[];
  env: string[];
  workingDir?: string;
  labels: Record<string, string>;
  binds: string[];
  restart: 'always' | 'on-failure' | 'no';
  memoryBytes?: number;
  nanoCpus?: number;
  dns?: DnsConfig;
  /** `stdin`, `stdinOnce` and `tty` of the container's spec, for `kubectl attach`. */
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  /** Share this container's process namespace (an ephemeral container's target). */
  pidContainer?: string;
}

/** A container changed: the PLEG turns it into a sync of its pod. */
export interface RuntimeEvent {
  podUid: string;
  containerId: string;
  action: string;
}

/** A container's cumulative CPU time and its memory working set at one moment (cAdvisor's numbers). */
export interface ContainerUsage {
  /** Nanoseconds of CPU used since the container started. */
  cpuNanos: number;
  /** Memory in use less the inactive file cache: what the kubelet reports and evicts on. */
  workingSetBytes: number;
  /** Memory in use, page cache included. */
  memoryUsageBytes: number;
  /** The container's own interfaces (a sandbox's are its pod's); none when it shares another's. */
  interfaces?: InterfaceUsage[];
  at: number;
}

/** One interface's counters since it was made. */
export interface InterfaceUsage {
  name: string;
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

export interface Runtime {
  /** The containers of one pod, the sandbox among them. */
  podContainers(podUid: string): Promise<RuntimeContainer[]>;
  /** Every container this node's agent made. */
  nodeContainers(): Promise<RuntimeContainer[]>;
  inspect(id: string): Promise<ContainerDetails | undefined>;
  /** The image's size in bytes, undefined when the node does not have it. */
  imageSize(image: string): Promise<number | undefined>;
  /** Pull (with registry credentials when given), throwing with the registry's reason. */
  pullImage(image: string, auth?: RegistryAuth): Promise<void>;
  runSandbox(spec: SandboxSpec): Promise<string>;
  runContainer(spec: ContainerRunSpec): Promise<string>;
  stop(id: string, graceSeconds: number): Promise<void>;
  remove(id: string): Promise<void>;
  /** The container's usage now (cgroup v1 or v2, through the engine's stats), undefined when gone. */
  usage(id: string): Promise<ContainerUsage | undefined>;
  /** Stream container events until the stream ends or `signal` aborts. */
  events(onEvent: (e: RuntimeEvent) => void, signal: AbortSignal): Promise<void>;
}

interface EngineContainer {
  Id: string;
  Image?: string;
  Names: string[];
  Labels: Record<string, string>;
  State: string;
}

interface EngineInspect {
  Id: string;
  Image: string;
  State: {
    Running: boolean;
    ExitCode: number;
    StartedAt: string;
    FinishedAt: string;
    Status: string;
    OOMKilled?: boolean;
    Pid?: number;
  };
  RestartCount: number;
  NetworkSettings?: { IPAddress?: string; Networks?: Record<string, { IPAddress?: string }> };
}

interface EngineStats {
  read?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; stats?: Record<string, number> };
  networks?: Record<
    string,
    {
      rx_bytes: number;
      rx_packets: number;
      rx_errors: number;
      rx_dropped: number;
      tx_bytes: number;
      tx_packets: number;
      tx_errors: number;
      tx_dropped: number;
    }
  >;
}

const toContainer = (c: EngineContainer): RuntimeContainer => ({
  id: c.Id,
  runtimeName: (c.Names[0] ?? '').replace(/^\//, ''),
  name: c.Labels[LABEL.container] ?? '',
  podUid: c.Labels[LABEL.uid] ?? '',
  state: c.State,
  ...(c.Image ? { image: c.Image } : {}),
});

const dnsConfig = (dns: DnsConfig | undefined): Record<string, unknown> =>
  dns ? { Dns: dns.servers, DnsSearch: dns.search, DnsOptions: dns.options } : {};

export class EngineRuntime implements Runtime {
  constructor(
    private readonly engine: EngineClient,
    private readonly nodeName: string,
    private readonly podNetwork: PodNetwork,
  ) {}

  private async list(label: string): Promise<RuntimeContainer[]> {
    const found = await this.engine.json<EngineContainer[]>('GET', '/containers/json', {
      query: { all: 1, filters: JSON.stringify({ label: [label] }) },
    });
    return found.map(toContainer);
  }

  async usage(id: string): Promise<ContainerUsage | undefined> {
    try {
      const s = await this.engine.json<EngineStats>('GET', `/containers/${id}/stats`, {
        query: { stream: 0, 'one-shot': 1 },
      });
      const memory = s.memory_stats ?? {};
      const inactive = memory.stats?.total_inactive_file ?? memory.stats?.inactive_file ?? 0;
      return {
        cpuNanos: s.cpu_stats?.cpu_usage?.total_usage ?? 0,
        workingSetBytes: Math.max(0, (memory.usage ?? 0) - inactive),
        memoryUsageBytes: memory.usage ?? 0,
        ...(s.networks
          ? {
              interfaces: Object.entries(s.networks).map(([name, n]) => ({
                name,
                rxBytes: n.rx_bytes,
                rxPackets: n.rx_packets,
                rxErrors: n.rx_errors,
                rxDropped: n.rx_dropped,
                txBytes: n.tx_bytes,
                txPackets: n.tx_packets,
                txErrors: n.tx_errors,
                txDropped: n.tx_dropped,
              })),
            }
          : {}),
        at: Date.parse(s.read ?? '') || Date.now(),
      };
    } catch {
      return undefined;
    }
  }

  podContainers(podUid: string): Promise<RuntimeContainer[]> {
    return this.list(`${LABEL.uid}=${podUid}`);
  }

  nodeContainers(): Promise<RuntimeContainer[]> {
    return this.list(`${LABEL.node}=${this.nodeName}`);
  }

  async inspect(id: string): Promise<ContainerDetails | undefined> {
    let i: EngineInspect;
    try {
      i = await this.engine.json<EngineInspect>('GET', `/containers/${id}/json`);
    } catch {
      return undefined;
    }
    return {
      id: i.Id,
      imageId: i.Image,
      running: i.State.Running,
      status: i.State.Status,
      exitCode: i.State.ExitCode,
      startedAt: i.State.StartedAt,
      finishedAt: i.State.FinishedAt,
      oomKilled: !!i.State.OOMKilled,
      restartCount: i.RestartCount,
      ip: this.podNetwork.addressOf(i),
      pid: i.State.Pid || undefined,
    };
  }

  async imageSize(image: string): Promise<number | undefined> {
    try {
      return (await this.engine.json<{ Size?: number }>('GET', `/images/${encodeURIComponent(image)}/json`)).Size ?? 0;
    } catch (err) {
      if (err instanceof EngineError && err.status === 404) return undefined;
      throw err;
    }
  }

  async pullImage(image: string, auth?: RegistryAuth): Promise<void> {
    // A digest reference goes whole (Docker takes `name@sha256:...` as fromImage with no tag).
    const [name, tag] = image.includes('@')
      ? [image, '']
      : (/^(.*?)(?::([^:/]+))?$/.exec(image)!.slice(1) as [string, string | undefined]);
    const res = await this.engine.stream('POST', '/images/create', {
      query: { fromImage: name, tag: tag ?? 'latest' },
      ...(auth ? { headers: { 'X-Registry-Auth': encodeAuthHeader(auth) } } : {}),
    });
    let text = '';
    for await (const c of res) text += (c as Buffer).toString();
    const failed = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { error?: string })
      .find((m) => m.error);
    if (failed) throw new Error(`pulling ${image}: ${failed.error}`);
  }

  private async createAndStart(name: string, body: Record<string, unknown>): Promise<string> {
    const created = await this.engine.json<{ Id: string }>('POST', '/containers/create', { query: { name }, body });
    await this.engine.call('POST', `/containers/${created.Id}/start`);
    return created.Id;
  }

  runSandbox(spec: SandboxSpec): Promise<string> {
    const network = this.podNetwork.networkMode();
    return this.createAndStart(spec.runtimeName, {
      Image: spec.image,
      Cmd: ['sleep', '2147483647'],
      Hostname: spec.hostname,
      Labels: spec.labels,
      HostConfig: {
        Init: true,
        RestartPolicy: { Name: 'always' },
        ...(network ? { NetworkMode: network } : {}),
        ...dnsConfig(spec.dns),
      },
    });
  }

  runContainer(spec: ContainerRunSpec): Promise<string> {
    return this.createAndStart(spec.runtimeName, {
      Image: spec.image,
      // A pod's containers share its hostname, as they share its UTS namespace in Kubernetes.
      Hostname: spec.hostname,
      ...(spec.command ? { Entrypoint: spec.command } : {}),
      ...(spec.args ? { Cmd: spec.args } : {}),
      Env: spec.env,
      ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
      ...(spec.stdin ? { OpenStdin: true, StdinOnce: !!spec.stdinOnce } : {}),
      ...(spec.tty ? { Tty: true } : {}),
      Labels: spec.labels,
      HostConfig: {
        NetworkMode: `container:${spec.sandboxId}`,
        ...(spec.pidContainer ? { PidMode: `container:${spec.pidContainer}` } : {}),
        ...dnsConfig(spec.dns),
        ...(spec.binds.length ? { Binds: spec.binds } : {}),
        RestartPolicy: { Name: spec.restart },
        ...(spec.memoryBytes ? { Memory: spec.memoryBytes } : {}),
        ...(spec.nanoCpus ? { NanoCpus: spec.nanoCpus } : {}),
      },
    });
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    await this.engine.call('POST', `/containers/${id}/stop`, { query: { t: graceSeconds } });
  }

  async remove(id: string): Promise<void> {
    await this.engine.call('DELETE', `/containers/${id}`, { query: { force: 1, v: 1 } });
  }

  async events(onEvent: (e: RuntimeEvent) => void, signal: AbortSignal): Promise<void> {
    const res = await this.engine.stream('GET', '/events', {
      query: { filters: JSON.stringify({ type: ['container'], label: [`${LABEL.node}=${this.nodeName}`] }) },
    });
    const abort = (): void => void res.destroy();
    signal.addEventListener('abort', abort, { once: true });
    let pending = '';
    try {
      for await (const chunk of res) {
        pending += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (!line) continue;
          const e = JSON.parse(line) as {
            Action?: string;
            Actor?: { ID?: string; Attributes?: Record<string, string> };
          };
          const podUid = e.Actor?.Attributes?.[LABEL.uid];
          if (podUid) onEvent({ podUid, containerId: e.Actor?.ID ?? '', action: e.Action ?? '' });
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }
}
