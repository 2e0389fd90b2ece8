/**
 * The Node as its agent keeps it: registered once with its labels, its status (capacity, conditions,
 * addresses, the agent's endpoint, versions) and Lease renewed on a heartbeat.
 */
import { nowRfc3339 } from '../api/object.js';
import os from 'node:os';
import { isNotFound, StatusError } from '../api/errors.js';
import { formatIngressPorts, INGRESS_PORTS_ANNOTATION } from '../api/ingress.js';
import { collectionPath, type KubeClient } from '../client/client.js';

export interface NodeIdentity {
  nodeName: string;
  nodeIp: string;
  /** The port of the agent's HTTPS endpoint. */
  port: number;
  /** Labels the Node is registered with, beside the well-known hostname, os and arch. */
  nodeLabels?: Record<string, string>;
  /** The ingress proxy's ports (0: off), announced on the Node for the ingress Service's endpoints. */
  ingressPorts?: { http: number; https: number };
}

/** How long the engine may take to answer its ping before the node counts it down. */
const RUNTIME_PING_TIMEOUT_MS = 5_000;

export class NodeStatusReporter {
  constructor(
    private readonly client: KubeClient,
    private readonly o: NodeIdentity,
    /** Whether the container runtime answers (the kubelet's runtime health check). */
    private readonly runtimeUp: () => Promise<boolean> = () => Promise.resolve(true),
  ) {}

  private nodeStatus(runtimeUp: boolean): Record<string, unknown> {
    const now = nowRfc3339();
    const capacity = {
      cpu: String(os.cpus().length),
      memory: `${Math.floor(os.totalmem() / 1024)}Ki`,
      pods: '110',
      'ephemeral-storage': '0',
    };
    const condition = (type: string, status: string, reason: string, message: string): Record<string, unknown> => ({
      type,
      status,
      lastHeartbeatTime: now,
      lastTransitionTime: now,
      reason,
      message,
    });
    return {
      capacity,
      allocatable: capacity,
      conditions: [
        condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        runtimeUp
          ? condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status')
          : condition('Ready', 'False', 'KubeletNotReady', 'container runtime is down'),
      ],
      addresses: [
        { type: 'InternalIP', address: this.o.nodeIp },
        { type: 'Hostname', address: this.o.nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: this.o.port } },
      nodeInfo: {
        kubeletVersion: 'v1.33.0-gantry',
        kubeProxyVersion: '',
        containerRuntimeVersion: 'gantry://0.1.0',
        operatingSystem: 'linux',
        architecture: process.arch === 'x64' ? 'amd64' : process.arch,
        osImage: 'Debian GNU/Linux',
        kernelVersion: os.release(),
        machineID: '',
        systemUUID: '',
        bootID: '',
      },
    };
  }

  /** Create the Node (once; it may exist from an earlier start) and report its status. */
  async register(): Promise<void> {
    const labels = {
      'kubernetes.io/hostname': this.o.nodeName,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch,
      ...this.o.nodeLabels,
    };
    const ports = formatIngressPorts(this.o.ingressPorts ?? {});
    try {
      await this.client.create(collectionPath('v1', 'nodes'), {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: this.o.nodeName,
          labels,
          ...(ports ? { annotations: { [INGRESS_PORTS_ANNOTATION]: ports } } : {}),
        },
      });
    } catch (err) {
      if (!(err instanceof StatusError && err.code === 409)) throw err;
      // Registered before: the proxy's ports may have changed since.
      await this.client.mergePatch(`${collectionPath('v1', 'nodes')}/${this.o.nodeName}`, {
        metadata: { annotations: { [INGRESS_PORTS_ANNOTATION]: ports || null } },
      });
    }
    await this.heartbeat();
  }

  /** The Node's status and its Lease, renewed (the node lifecycle reads the Lease). */
  async heartbeat(): Promise<void> {
    const runtimeUp = await Promise.race([
      this.runtimeUp().catch(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), RUNTIME_PING_TIMEOUT_MS).unref()),
    ]);
    await this.client.mergePatch(`${collectionPath('v1', 'nodes')}/${this.o.nodeName}/status`, {
      status: this.nodeStatus(runtimeUp),
    });
    const lease = `${collectionPath('coordination.k8s.io/v1', 'leases', 'kube-node-lease')}/${this.o.nodeName}`;
    const spec = {
      holderIdentity: this.o.nodeName,
      leaseDurationSeconds: 40,
      renewTime: new Date()
        .toISOString()
        .replace('Z', '000Z')
        .replace(/(\.\d{6})\d*Z$/, '$1Z'),
    };
    try {
      await this.client.mergePatch(lease, { spec });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.client.create(collectionPath('coordination.k8s.io/v1', 'leases', 'kube-node-lease'), {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.o.nodeName, namespace: 'kube-node-lease' },
        spec,
      });
    }
  }
}
