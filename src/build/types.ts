/** The builder's options and dependencies, a stage's state between instructions, and what every step uses. */
import { GantryError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ContainerService } from '../engine/containers/service.js';
import type { ImageService } from '../engine/images/service.js';
import type { Descriptor, ImageConfig } from '../images/oci.js';
import type { AuthConfig } from '../registry/auth.js';
import type { OverlaySnapshotter } from '../snapshots/store.js';
import type { FileDigests, IgnoreMatcher } from './context.js';

export interface BuildMessage {
  stream?: string;
  aux?: { ID: string };
  error?: string;
  errorDetail?: { code?: number; message: string };
}

export interface BuildOptions {
  contextDir: string;
  ignored: IgnoreMatcher;
  /** Digests of the context's files taken while unpacking it. */
  digests?: FileDigests;
  dockerfile: string;
  tags: string[];
  buildArgs: Record<string, string | null>;
  labels: Record<string, string>;
  target?: string;
  noCache: boolean;
  pull: boolean;
  networkMode?: string;
  /** `--add-host` entries for RUN steps (validated by the caller). */
  extraHosts?: string[];
  /** `--cache-from`: local images whose layers may stand in for RUN, COPY and ADD steps. */
  cacheFrom?: string[];
  auth: (registry: string) => AuthConfig | undefined;
  output: (msg: BuildMessage) => void;
}

export interface BuilderDeps {
  images: ImageService;
  containers: ContainerService;
  snapshots: OverlaySnapshotter;
  dataRoot: string;
  logger: Logger;
}

/** A stage's state between instructions. */
export interface State {
  imageId?: string;
  config: ImageConfig;
  layers: Descriptor[];
  /** ARGs in scope and their values. */
  args: Record<string, string>;
  shell: string[];
  /** Whether this stage set CMD (an ENTRYPOINT after it keeps it). */
  cmdSet?: boolean;
}

/** Build arguments usable without an ARG instruction, as Docker predefines them. */
export const PREDEFINED_ARGS = [
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
];
export const DEFAULT_SHELL = ['/bin/sh', '-c'];
export const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class StepError extends GantryError {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super('invalid', message);
  }
}

export function envMap(env: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    out[i < 0 ? e : e.slice(0, i)] = i < 0 ? '' : e.slice(i + 1);
  }
  return out;
}

export function setEnv(env: string[] | undefined, key: string, value: string): string[] {
  return [...(env ?? []).filter((e) => !e.startsWith(`${key}=`) && e !== key), `${key}=${value}`];
}

/** Marks the containers RUN steps make, so those a crash left behind are removed at the next start. */
export const BUILD_CONTAINER_LABEL = 'io.gantry.build.container';
