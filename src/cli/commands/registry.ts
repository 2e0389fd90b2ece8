/** `gantry registry serve`: a standalone OCI distribution registry. */
import type { Command } from 'commander';
import { createLogger } from '../../common/log.js';
import { RegistryServer } from '../../registry/server.js';

export function registerRegistry(program: Command): void {
  const reg = program.command('registry').description('Run an OCI distribution registry');
  reg
    .command('serve')
    .description('Serve the registry API over HTTP')
    .option('--addr <host:port>', 'address to listen on', '127.0.0.1:5000')
    .option('--data-root <dir>', 'storage directory', '/var/lib/gantry/registry')
    .option('--htpasswd <file>', 'require basic auth with bcrypt entries from this htpasswd file')
    .option('-l, --log-level <level>', 'log level', 'info')
    .action(async (opts: { addr: string; dataRoot: string; htpasswd?: string; logLevel: string }) => {
      const m = /^(.*):(\d+)$/.exec(opts.addr);
      if (!m) throw new Error(`invalid --addr ${opts.addr}: expected host:port`);
      const logger = createLogger('gantry-registry', opts.logLevel);
      const server = await RegistryServer.create({ dataRoot: opts.dataRoot, htpasswd: opts.htpasswd, logger });
      const port = await server.listen(m[1] || '0.0.0.0', Number(m[2]));
      logger.info({ addr: `${m[1]}:${port}`, dataRoot: opts.dataRoot }, 'registry listening');
      const stop = (): void => {
        void server.close().then(() => process.exit(0));
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}
