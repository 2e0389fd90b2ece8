/**
 * Calls CNI plugins as the CNI spec (1.0) says: the plugin binary is run with the network
 * configuration as JSON on stdin and the `CNI_*` variables in its environment; it answers a result
 * (ADD) or nothing (DEL) on stdout, or an error object. A configuration list runs its plugins in order
 * for ADD, each given the previous result, and in reverse order for DEL with the cached ADD result.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { GantryError } from '../common/errors.js';

/** Where Debian's containernetworking-plugins puts the plugins. */
export const CNI_PLUGIN_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];
export const CNI_VERSION = '1.0.0';

export interface CniResult {
  cniVersion: string;
  interfaces?: Array<{ name: string; mac?: string; sandbox?: string }>;
  ips?: Array<{ address: string; gateway?: string; interface?: number }>;
  routes?: Array<{ dst: string; gw?: string }>;
  dns?: unknown;
}

export interface CniPluginConf {
  type: string;
  [key: string]: unknown;
}

export interface CniConfList {
  cniVersion: string;
  name: string;
  plugins: CniPluginConf[];
}

export interface CniRuntime {
  containerId: string;
  netns: string;
  ifName: string;
  /** Values for plugins that declare the matching capability (e.g. `portMappings`). */
  capabilityArgs?: Record<string, unknown>;
}

export function findPluginDir(): string | undefined {
  return CNI_PLUGIN_DIRS.find((d) => existsSync(`${d}/portmap`));
}

export class CniError extends GantryError {
  constructor(plugin: string, command: string, msg: string, details?: string) {
    super('internal', `CNI ${plugin} ${command}: ${msg}${details ? ` (${details})` : ''}`);
  }
}

/** Run one plugin; answers its parsed stdout (undefined when empty). */
export function execPlugin(
  pluginDir: string,
  command: 'ADD' | 'DEL' | 'CHECK',
  conf: object & { type: string },
  rt: CniRuntime,
): Promise<CniResult | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(`${pluginDir}/${conf.type}`, [], {
      env: {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        CNI_COMMAND: command,
        CNI_CONTAINERID: rt.containerId,
        CNI_NETNS: rt.netns,
        CNI_IFNAME: rt.ifName,
        CNI_PATH: pluginDir,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => reject(new CniError(conf.type, command, e.message)));
    child.on('close', (code) => {
      const text = Buffer.concat(out).toString().trim();
      let parsed: (CniResult & { code?: number; msg?: string; details?: string }) | undefined;
      try {
        parsed = text ? (JSON.parse(text) as typeof parsed) : undefined;
      } catch {
        parsed = undefined;
      }
      if (code === 0) resolve(parsed);
      else
        reject(
          new CniError(
            conf.type,
            command,
            parsed?.msg ?? (Buffer.concat(err).toString().trim() || `exit status ${code}`),
            parsed?.details,
          ),
        );
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(conf));
  });
}

/** The configuration a plugin of a list receives: the list's name and version, its capabilities' args, the previous result. */
function pluginConf(
  list: CniConfList,
  plugin: CniPluginConf,
  rt: CniRuntime,
  prevResult: CniResult | undefined,
): object & { type: string } {
  const conf: Record<string, unknown> & { type: string } = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  const caps = plugin.capabilities as Record<string, boolean> | undefined;
  if (caps && rt.capabilityArgs) {
    const runtimeConfig: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(caps))
      if (on && rt.capabilityArgs[cap] !== undefined) runtimeConfig[cap] = rt.capabilityArgs[cap];
    if (Object.keys(runtimeConfig).length) conf.runtimeConfig = runtimeConfig;
  }
  delete conf.capabilities;
  if (prevResult) conf.prevResult = prevResult;
  return conf;
}

/** ADD through the whole list; on failure, what was added is deleted again before the error is thrown. */
export async function addNetworkList(
  pluginDir: string,
  list: CniConfList,
  rt: CniRuntime,
  prevResult?: CniResult,
): Promise<CniResult> {
  let result: CniResult | undefined = prevResult;
  for (const plugin of list.plugins) {
    try {
      result = (await execPlugin(pluginDir, 'ADD', pluginConf(list, plugin, rt, result), rt)) ?? result;
    } catch (err) {
      await delNetworkList(pluginDir, list, rt, result).catch(() => undefined);
      throw err;
    }
  }
  if (!result) throw new CniError(list.plugins[0]?.type ?? '?', 'ADD', 'no result');
  return result;
}

/** DEL in reverse order. Every plugin is asked even when one fails, so as little as possible is left. */
export async function delNetworkList(
  pluginDir: string,
  list: CniConfList,
  rt: CniRuntime,
  cached: CniResult | undefined,
): Promise<void> {
  let first: unknown;
  for (const plugin of [...list.plugins].reverse()) {
    try {
      await execPlugin(pluginDir, 'DEL', pluginConf(list, plugin, rt, cached), rt);
    } catch (err) {
      first ??= err;
    }
  }
  if (first) throw first;
}
