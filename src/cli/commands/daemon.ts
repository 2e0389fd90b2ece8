/** `gantry daemon`: the engine, serving the Docker Engine API (dockerd's flag names). */
import { readFileSync, existsSync } from 'node:fs';
import type { Command } from 'commander';
import { createLogger, logUncaught } from '../../common/log.js';
import { Engine } from '../../engine/engine.js';
import { createDockerApi, listen } from '../../api/docker/server.js';
import { processRegistry, parseMetricsAddress, serveMetrics } from '../../common/metrics.js';
import { EngineMetrics } from '../../engine/metrics.js';
import { collect } from './common.js';
import { API_VERSION } from '../../api/docker/router.js';

const DEFAULT_CONFIG = '/etc/gantry/daemon.json';

interface DaemonJson {
  hosts?: string[];
  'data-root'?: string;
  'exec-root'?: string;
  'default-runtime'?: string;
  'insecure-registries'?: string[];
  'registry-mirrors'?: string[];
  'log-level'?: string;
  debug?: boolean;
  bridge?: string;
  bip?: string;
  'default-address-pools'?: Array<{ base: string; size: number }>;
  'max-layer-size'?: string | number;
  'max-context-size'?: string | number;
  'metrics-addr'?: string;
}

/** A size as `--max-layer-size` takes it: bytes, or a number with k, m, g or t (powers of 1024). */
function parseSize(v: string | number | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)([kmgt]?)b?$/i.exec(String(v).trim());
  if (!m) throw new Error(`invalid ${flag}: ${v}`);
  return Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
}

/** A limit given on the command line or in daemon.json; nothing when neither sets it (the engine's default stands). */
function sizeLimit(maxBytes: number | undefined): { maxBytes?: number } {
  return maxBytes === undefined ? {} : { maxBytes };
}

/** Docker's `--default-address-pool base=172.18.0.0/16,size=24`. */
function parsePool(spec: string): { base: string; size: number } {
  const kv = Object.fromEntries(spec.split(',').map((p) => p.split('=') as [string, string]));
  const size = Number(kv.size);
  if (!kv.base || !Number.isInteger(size) || size < 1 || size > 30)
    throw new Error(`invalid default address pool "${spec}": expected base=CIDR,size=N`);
  return { base: kv.base, size };
}

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description('Run the Gantry engine, serving the Docker Engine API')
    .option('-H, --host <address>', 'daemon socket to listen on (repeatable)', collect, [])
    .option('--data-root <dir>', 'root directory of persistent state', undefined)
    .option('--exec-root <dir>', 'root directory for execution state files', undefined)
    .option('--default-runtime <name>', 'default OCI runtime for containers (crun or runc)', undefined)
    .option(
      '--insecure-registry <host>',
      'registry reachable over plain HTTP or unverified TLS (repeatable)',
      collect,
      [],
    )
    .option('--registry-mirror <url>', 'preferred Docker Hub mirror (repeatable)', collect, [])
    .option('-b, --bridge <name>', 'bridge device of the default network (created when missing)', undefined)
    .option('--bip <cidr>', 'address and prefix of the default bridge, e.g. 172.17.0.1/16', undefined)
    .option(
      '--default-address-pool <pool>',
      'pool for user-defined networks, e.g. base=172.18.0.0/16,size=24',
      undefined,
    )
    .option('--max-layer-size <size>', 'refuse layers that unpack to more than this (e.g. 32g)', undefined)
    .option('--max-context-size <size>', 'refuse build contexts that unpack to more than this (e.g. 16g)', undefined)
    .option('--metrics-addr <host:port>', 'serve Prometheus metrics on this address, e.g. 127.0.0.1:9323', undefined)
    .option('--config-file <file>', 'daemon configuration file (JSON, like daemon.json)', undefined)
    .option('-l, --log-level <level>', 'log level (debug, info, warn, error)', undefined)
    .option('-D, --debug', 'enable debug logging')
    .action(
      async (opts: {
        host: string[];
        dataRoot?: string;
        execRoot?: string;
        defaultRuntime?: string;
        insecureRegistry: string[];
        registryMirror: string[];
        configFile?: string;
        logLevel?: string;
        debug?: boolean;
        bridge?: string;
        bip?: string;
        defaultAddressPool?: string;
        maxLayerSize?: string;
        maxContextSize?: string;
        metricsAddr?: string;
      }) => {
        let file: DaemonJson = {};
        const cfgPath = opts.configFile ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
        if (cfgPath) {
          try {
            file = JSON.parse(readFileSync(cfgPath, 'utf8')) as DaemonJson;
          } catch (err) {
            throw new Error(`unable to configure the daemon with file ${cfgPath}: ${(err as Error).message}`);
          }
        }
        const hosts = opts.host.length ? opts.host : (file.hosts ?? ['unix:///run/gantry/gantry.sock']);
        const metricsAddr = opts.metricsAddr ?? file['metrics-addr'];
        // Checked before anything starts: a typo in the address is an error, not a daemon without metrics.
        if (metricsAddr) parseMetricsAddress(metricsAddr);
        const level = opts.debug || file.debug ? 'debug' : (opts.logLevel ?? file['log-level'] ?? 'info');
        const logger = createLogger('gantry-daemon', level);
        const engine = await Engine.open({
          dataRoot: opts.dataRoot ?? file['data-root'] ?? '/var/lib/gantry',
          execRoot: opts.execRoot ?? file['exec-root'] ?? '/run/gantry',
          defaultRuntime: opts.defaultRuntime ?? file['default-runtime'],
          insecureRegistries: [...(file['insecure-registries'] ?? []), ...opts.insecureRegistry],
          registryMirrors: [...(file['registry-mirrors'] ?? []), ...opts.registryMirror],
          logger,
          network: {
            bridgeName: opts.bridge ?? file.bridge,
            bridgeCidr: opts.bip ?? file.bip,
            addressPool: opts.defaultAddressPool
              ? parsePool(opts.defaultAddressPool)
              : file['default-address-pools']?.[0],
          },
          limits: {
            layer: sizeLimit(parseSize(opts.maxLayerSize ?? file['max-layer-size'], '--max-layer-size')),
            context: sizeLimit(parseSize(opts.maxContextSize ?? file['max-context-size'], '--max-context-size')),
          },
        });
        const servers: import('node:http').Server[] = [];
        if (metricsAddr) {
          const registry = processRegistry();
          new EngineMetrics(engine, registry);
          servers.push(await serveMetrics(registry, metricsAddr, logger));
        }
        for (const h of hosts) {
          const server = createDockerApi(engine);
          await listen(server, h);
          servers.push(server);
          logger.info({ host: h }, 'API listen');
        }
        logger.info(
          { dataRoot: engine.config.dataRoot, runtime: engine.defaultRuntime, version: API_VERSION },
          'Daemon has completed initialization',
        );
        const shutdown = (sig: string): void => {
          logger.info({ signal: sig }, 'shutting down');
          engine.containers.close();
          void engine.networks.close();
          for (const s of servers) {
            s.close();
            s.closeAllConnections();
          }
          setTimeout(() => process.exit(0), 200).unref();
        };
        logUncaught(logger);
        process.on('SIGTERM', () => shutdown('SIGTERM'));
        process.on('SIGINT', () => shutdown('SIGINT'));
      },
    );
}
