/**
 * What Docker checks when a container is created or updated, with its wording, so a bad value is a 400
 * at create rather than a failure at start (moby's verifyContainerSettings, validateResources and
 * verifyPlatformContainerResources). Answers the warnings Docker would return; adjusts what Docker adjusts.
 */
import os from 'node:os';
import { invalid } from '../common/errors.js';
import { wantedBindings } from '../network/ports.js';
import { signalNumber } from '../runtime/runtime.js';
import { validateResolution } from './resolution.js';
import type { ContainerConfig, HostConfig } from './types.js';

const MIN_MEMORY = 6 * 1024 * 1024;
const MIN_CPU_SHARES = 2;
const MAX_CPU_SHARES = 262144;

/** Resource settings of a create or an update (`update` passes only what it changes, merged onto the current ones). */
export function validateResources(hc: Partial<HostConfig>, update = false): string[] {
  const warnings: string[] = [];
  const memory = hc.Memory ?? 0;
  const swap = hc.MemorySwap ?? 0;
  const reservation = hc.MemoryReservation ?? 0;
  if (memory !== 0 && memory < MIN_MEMORY) throw invalid('Minimum memory limit allowed is 6MB');
  if (memory > 0 && swap > 0 && swap < memory)
    throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (memory === 0 && swap > 0 && !update)
    throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (swap < -1) throw invalid(`invalid memory swap limit ${swap}: must be -1 (unlimited) or positive`);
  const swappiness = hc.MemorySwappiness;
  if (swappiness !== undefined && swappiness !== null && (swappiness < -1 || swappiness > 100))
    throw invalid(`Invalid value: ${swappiness}, valid memory swappiness range is 0-100`);
  if (reservation !== 0 && reservation < MIN_MEMORY) throw invalid('Minimum memory reservation allowed is 6MB');
  if (memory > 0 && reservation > 0 && memory < reservation)
    throw invalid('Minimum memory limit can not be less than memory reservation limit, see usage');

  const nano = hc.NanoCpus ?? 0;
  const cpus = os.availableParallelism();
  if (nano > 0 && (hc.CpuPeriod ?? 0) > 0)
    throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (nano > 0 && (hc.CpuQuota ?? 0) > 0)
    throw invalid('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (nano < 0 || nano > cpus * 1e9)
    throw invalid(`Range of CPUs is from 0.01 to ${cpus}.00, as there are only ${cpus} CPUs available`);
  const period = hc.CpuPeriod ?? 0;
  if (period !== 0 && (period < 1000 || period > 1000000))
    throw invalid('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second (i.e. 1000000)');
  const quota = hc.CpuQuota ?? 0;
  if (quota > 0 && quota < 1000) throw invalid('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  const shares = hc.CpuShares ?? 0;
  if (shares < 0) throw invalid(`invalid CPU shares (${shares}): value must be a positive integer`);
  if (shares > 0 && shares < MIN_CPU_SHARES) {
    warnings.push(`Changing requested CPUShares of ${shares} to minimum allowed of ${MIN_CPU_SHARES}`);
    hc.CpuShares = MIN_CPU_SHARES;
  } else if (shares > MAX_CPU_SHARES) {
    warnings.push(`Changing requested CPUShares of ${shares} to maximum allowed of ${MAX_CPU_SHARES}`);
    hc.CpuShares = MAX_CPU_SHARES;
  }
  for (const field of ['CpusetCpus', 'CpusetMems'] as const) {
    const v = hc[field];
    if (v && !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v))
      throw invalid(`Invalid value ${v} for ${field === 'CpusetCpus' ? 'cpuset cpus' : 'cpuset mems'}`);
  }
  return warnings;
}

/** moby's ValidateRestartPolicy, with its words. */
export function validateRestartPolicy(policy: HostConfig['RestartPolicy'] | undefined): void {
  if (!policy) return;
  const retries = policy.MaximumRetryCount ?? 0;
  switch (policy.Name ?? '') {
    case 'always':
    case 'unless-stopped':
    case 'no':
      if (retries !== 0)
        throw invalid(
          `invalid restart policy: maximum retry count can only be used with 'on-failure'${retries < 0 ? ' and cannot be negative' : ''}`,
        );
      return;
    case 'on-failure':
      if (retries < 0) throw invalid('invalid restart policy: maximum retry count cannot be negative');
      return;
    case '':
      // Engines before 25.0 wrote an empty name for "no": still accepted, with any count.
      return;
    default:
      throw invalid(
        `invalid restart policy: unknown policy '${policy.Name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`,
      );
  }
}

/**
 * The log drivers this engine has and the options each takes (moby's ValidateLogOpts): json-file and
 * local keep logs `docker logs` reads; none keeps nothing readable.
 */
const LOG_DRIVERS: Record<string, string[]> = {
  'json-file': ['max-size', 'max-file', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag'],
  local: ['max-size', 'max-file', 'compress'],
  none: [],
};
/** Options every driver takes (the log delivery mode). */
const LOG_OPTS_ALL = ['mode', 'max-buffer-size'];

export function validateLogConfig(lc: HostConfig['LogConfig']): void {
  if (!lc) return;
  const known = LOG_DRIVERS[lc.Type];
  if (!known) throw invalid(`logger: no log driver named '${lc.Type}' is registered`);
  for (const opt of Object.keys(lc.Config ?? {}))
    if (!known.includes(opt) && !LOG_OPTS_ALL.includes(opt))
      throw invalid(`unknown log opt '${opt}' for ${lc.Type} log driver`);
}

/** moby's validateHealthCheck: durations are 0 (the image's) or at least 1ms; retries not negative. */
function validateHealthcheck(h: ContainerConfig['Healthcheck']): void {
  if (!h) return;
  const MS = 1e6;
  for (const field of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval'] as const) {
    const v = h[field] ?? 0;
    if (v !== 0 && v < MS) throw invalid(`${field} in Healthcheck cannot be less than 1ms`);
  }
  if ((h.Retries ?? 0) < 0) throw invalid('Retries in Healthcheck cannot be negative');
}

/** Everything a create checks beyond what its own code resolves (image, names, networks, mounts). */
export function validateCreate(
  cfg: Pick<ContainerConfig, 'WorkingDir' | 'ExposedPorts' | 'StopSignal' | 'Healthcheck' | 'Hostname' | 'Domainname'>,
  hc: HostConfig,
): string[] {
  if (cfg.WorkingDir && !cfg.WorkingDir.startsWith('/'))
    throw invalid(`the working directory '${cfg.WorkingDir}' is invalid, it needs to be an absolute path`);
  if (cfg.StopSignal) {
    const sig = signalNumber(cfg.StopSignal);
    if (sig === undefined || sig < 1 || sig > 64) throw invalid(`Invalid signal: ${cfg.StopSignal}`);
  }
  validateHealthcheck(cfg.Healthcheck);
  validateResolution(cfg, hc);
  validateRestartPolicy(hc.RestartPolicy);
  validateLogConfig(hc.LogConfig);
  const oom = hc.OomScoreAdj ?? 0;
  if (oom < -1000 || oom > 1000) throw invalid(`Invalid value ${oom}, range for oom score adj is [-1000, 1000]`);
  const warnings = validateResources(hc);
  wantedBindings(hc.PortBindings, cfg.ExposedPorts, !!hc.PublishAllPorts);
  return warnings;
}
