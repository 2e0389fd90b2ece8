/** Commit: the writable layer packed into a new layer and an image made from it. */

import { type ContainerConfig } from '../../containers/types.js';
import { packUpper } from '../../diff/overlay.js';
import { applyChanges } from '../../images/changes.js';
import type { Descriptor, ImageConfig } from '../../images/oci.js';
import { storeLayer } from '../layers.js';

import type { ContainerService } from './service.js';

export const commitMethods = {
  /**
   * `docker commit`: the writable layer becomes a new image layer on top of the container's image,
   * with the container's config (and `--change` instructions) as the image config. The same layer path
   * is used by `build`.
   */
  /**
   * The container's writable layer as an OCI layer blob (changes with `.wh.` whiteouts), stored in the
   * content store: the one layer-producing path of `commit` and of `build`'s RUN steps.
   */
  async diffLayer(this: ContainerService, ref: string): Promise<{ desc: Descriptor; diffId: string }> {
    const rec = this.d.store.resolve(ref);
    return storeLayer(this.d.images.contentStore, packUpper(this.d.snapshots.activeDirs(rec.Id).upper));
  },

  async commit(
    this: ContainerService,
    ref: string,
    opts: {
      repo?: string;
      tag?: string;
      comment?: string;
      author?: string;
      changes?: string[];
      pause?: boolean;
      config?: ContainerConfig;
    },
  ): Promise<string> {
    const rec = this.d.store.resolve(ref);
    // The pause and the copy of its changes hold the container: a second commit, a user's pause or a
    // removal wait, so none resumes or removes what this one is reading.
    const layer = await this.exclusive(rec.Id, async (current) => {
      const rt = this.runtimeOf(current);
      const pause = opts.pause !== false && current.State.Running && !current.State.Paused;
      if (pause) await rt.pause(current.Id);
      try {
        return await this.diffLayer(current.Id);
      } finally {
        if (pause) await rt.resume(current.Id).catch(() => undefined);
      }
    });
    const image = this.d.images.resolve(rec.Image);
    const parent = await this.d.images.config(image);
    const {
      Hostname: _h,
      Domainname: _d,
      AttachStdin: _a,
      AttachStdout: _b,
      AttachStderr: _c,
      Tty: _t,
      OpenStdin: _o,
      StdinOnce: _s,
      Image: _i,
      StopTimeout: _st,
      ...base
    } = { ...rec.Config, ...opts.config };
    const cfg = applyChanges(base, opts.changes ?? []);
    const created = new Date().toISOString();
    const config: ImageConfig = {
      architecture: parent.architecture ?? 'amd64',
      os: parent.os ?? 'linux',
      created,
      ...(opts.author ? { author: opts.author } : {}),
      ...(opts.comment ? { comment: opts.comment } : {}),
      config: cfg,
      container: rec.Id,
      rootfs: { type: 'layers', diff_ids: [...image.diffIds, layer.diffId] },
      history: [
        ...(parent.history ?? []),
        {
          created,
          created_by: [rec.Path, ...rec.Args].join(' '),
          ...(opts.comment ? { comment: opts.comment } : {}),
          ...(opts.author ? { author: opts.author } : {}),
        },
      ],
    };
    const created_ = await this.d.images.createImage(config, [...image.layers, layer.desc]);
    if (opts.repo) await this.d.images.tag(created_.id, opts.repo, opts.tag);
    this.d.events.publish(
      'container',
      'commit',
      rec.Id,
      this.eventAttrs(rec, { comment: opts.comment ?? '', imageID: created_.id }),
    );
    return created_.id;
  },
};
