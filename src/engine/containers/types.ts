/** The container service's requests, answers and dependencies. */
import { type Readable, type Writable } from 'node:stream';
import type { Logger } from '../../common/log.js';
import { ContainerStore } from '../../containers/store.js';
import { type ContainerConfig, type HostConfig } from '../../containers/types.js';
import { OciRuntime } from '../../runtime/runtime.js';
import type { OverlaySnapshotter } from '../../snapshots/store.js';
import type { EventBus } from '../events.js';
import type { ImageService } from '../images/service.js';
import type { EndpointRequest } from '../../network/ipam.js';
import type { NetworkService } from '../../network/service.js';
import { type VolumeStore } from '../../volumes/store.js';

export interface ContainerPaths {
  /** Per-boot state: bundles, runtime root, exit files, attach sockets. */
  execRoot: string;
  conmon: string;
  /** Static init binary for `--init` (tini-static). */
  initBinary?: string;
}

export interface ContainerServiceDeps {
  store: ContainerStore;
  images: ImageService;
  snapshots: OverlaySnapshotter;
  runtimes: Map<string, OciRuntime>;
  defaultRuntime: string;
  events: EventBus;
  logger: Logger;
  paths: ContainerPaths;
  networks: NetworkService;
  volumes: VolumeStore;
}

export interface CreateRequest extends ContainerConfig {
  HostConfig?: HostConfig;
  NetworkingConfig?: {
    EndpointsConfig?: Record<string, EndpointRequest & { Links?: string[] | null }>;
  } | null;
  /** Deprecated container-wide MAC address (API < 1.44); moves to the endpoint of the network mode. */
  MacAddress?: string;
}

export interface OutputChunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

/** A live attachment: output chunks, optional stdin, ends when the process's output ends. */
export interface Attachment {
  output: Readable; // objectMode: OutputChunk
  stdin?: Writable;
  close(): void;
}

export interface ExecSession {
  id: string;
  containerId: string;
  config: {
    Cmd: string[];
    Env?: string[];
    WorkingDir?: string;
    User?: string;
    Tty?: boolean;
    AttachStdin?: boolean;
    AttachStdout?: boolean;
    AttachStderr?: boolean;
    Privileged?: boolean;
    DetachKeys?: string;
  };
  running: boolean;
  exitCode: number | null;
  pid: number;
  done: Promise<void>;
  resolveDone: () => void;
  /** Settles once the process runs (or its start failed): a resize waits for it, as moby's does. */
  started: Promise<void>;
  resolveStarted: () => void;
  ctl?: string;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}
