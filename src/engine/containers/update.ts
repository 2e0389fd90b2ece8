/** Changes to an existing container: resources (`docker update`) and networks (connect, disconnect). */
import { invalid } from '../../common/errors.js';
import { crashPoint } from '../../common/faults.js';
import { type ContainerRecord, type HostConfig } from '../../containers/types.js';
import type { EndpointRequest } from '../../network/ipam.js';
import { cgroupResources } from '../../runtime/spec.js';

import { validateResources, validateRestartPolicy } from '../../containers/validate.js';
import type { ContainerService } from './service.js';

export const updateMethods = {
  update(this: ContainerService, ref: string, u: Partial<HostConfig>): Promise<string[]> {
    return this.exclusive(ref, (rec) => this.doUpdate(rec, u));
  },

  async doUpdate(this: ContainerService, rec: ContainerRecord, u: Partial<HostConfig>): Promise<string[]> {
    const hc = rec.HostConfig;
    const fields: Array<keyof HostConfig> = [
      'Memory',
      'MemorySwap',
      'MemoryReservation',
      'CpuShares',
      'NanoCpus',
      'CpuPeriod',
      'CpuQuota',
      'CpusetCpus',
      'CpusetMems',
      'PidsLimit',
      'RestartPolicy',
    ];
    if (u.RestartPolicy) validateRestartPolicy(u.RestartPolicy);
    if (u.RestartPolicy?.Name && rec.HostConfig.AutoRemove && u.RestartPolicy.Name !== 'no')
      throw invalid(`Restart policy cannot be updated because AutoRemove is enabled for the container`);
    // Checked on a copy, so a refused update changes nothing.
    const next: HostConfig = { ...hc };
    for (const f of fields)
      if (u[f] !== undefined && u[f] !== null && !(typeof u[f] === 'number' && u[f] === 0 && f !== 'PidsLimit'))
        (next as Record<string, unknown>)[f] = u[f];
    const warnings = validateResources(next, true);
    Object.assign(hc, next);
    await this.d.store.save(rec);
    if (rec.State.Running) {
      const resources = cgroupResources(hc);
      await this.runtimeOf(rec).update(rec.Id, resources);
    }
    this.d.events.publish('container', 'update', rec.Id, this.eventAttrs(rec));
    return warnings;
  },

  /** `network connect`: wired at once when the container runs, else at its next start. */
  async connectNetwork(
    this: ContainerService,
    ref: string,
    network: string,
    cfg: EndpointRequest & { Links?: string[] | null } = {},
  ): Promise<void> {
    const rec = this.d.store.resolve(ref);
    await this.d.networks.connect(rec, network, cfg);
    crashPoint('connect:attached');
    await this.d.store.save(rec);
    // Joining a user-defined network brings its DNS server, as Docker's embedded one comes with it.
    if (rec.State.Running && rec.HostConfig.NetworkMode !== 'host') await this.writeResolvConf(rec);
  },

  async disconnectNetwork(this: ContainerService, ref: string, network: string): Promise<void> {
    const rec = this.d.store.resolve(ref);
    await this.d.networks.disconnect(rec, network);
    await this.d.store.save(rec);
  },
};
