/** The `gantry` command line: a Docker-compatible client, plus the daemon and registry entry points. */
import { Command } from 'commander';
import { GANTRY_VERSION } from '../version.js';
import { registerDaemon } from './commands/daemon.js';
import { registerImageCommands } from './commands/images.js';
import { registerRegistry } from './commands/registry.js';
import { registerSystemCommands } from './commands/system.js';
import { registerContainerCommands } from './commands/containers.js';
import { registerNetworkCommands } from './commands/networks.js';
import { registerBuildCommands } from './commands/build.js';
import { registerAgentCommand } from './commands/agent.js';
import { registerServerCommands } from './commands/server.js';
import { registerDashboardCommand } from './commands/dashboard.js';
import { registerClusterCommands } from './commands/cluster.js';
import { registerSchedulerCommand } from './commands/scheduler.js';
import { registerLoadBalancerCommand } from './commands/loadbalancer.js';
import { reportError } from './commands/common.js';

const program = new Command();
program
  .name('gantry')
  .description('A container engine and orchestrator, compatible with the docker CLI and kubectl')
  .version(GANTRY_VERSION, '-v, --version', 'print version information and quit')
  .option(
    '-H, --host <address>',
    'daemon socket to connect to (default: $GANTRY_HOST, $DOCKER_HOST, unix:///run/gantry/gantry.sock)',
  )
  .enablePositionalOptions()
  .showHelpAfterError();

registerDaemon(program);
registerRegistry(program);
registerImageCommands(program);
registerSystemCommands(program);
registerContainerCommands(program);
registerNetworkCommands(program);
registerBuildCommands(program);
registerServerCommands(program);
registerAgentCommand(program);
registerClusterCommands(program);
registerSchedulerCommand(program);
registerLoadBalancerCommand(program);
registerDashboardCommand(program);

program.exitOverride((err) => {
  // Usage errors exit 125 like the docker CLI; help and version exit 0.
  process.exit(err.exitCode === 0 ? 0 : 125);
});

program.parseAsync(process.argv).catch((err: unknown) => {
  process.exitCode = reportError(err);
});
