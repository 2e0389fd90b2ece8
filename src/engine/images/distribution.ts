/**
 * `GET /distribution/{name}/json`: what a registry holds for a reference without pulling it — the
 * top manifest's descriptor and the platforms it offers (an index lists them; a single manifest's
 * platform is read from its config), as moby's distribution router answers.
 */
import type { ImageConfig, ImageIndex, ImageManifest } from '../../images/oci.js';
import { isIndexType } from '../../images/oci.js';
import { parseWithDefaultTag } from '../../images/reference.js';
import type { AuthConfig } from '../../registry/auth.js';
import type { ImageService } from './service.js';

export interface DistributionInspect {
  Descriptor: { mediaType: string; digest: string; size: number };
  Platforms: Array<{ architecture: string; os: string; variant?: string; 'os.version'?: string }>;
}

export const distributionMethods = {
  async distributionInspect(
    this: ImageService,
    refStr: string,
    auth: AuthConfig | undefined,
  ): Promise<DistributionInspect> {
    const ref = parseWithDefaultTag(refStr);
    try {
      const session = await this.d.registry.session(ref.domain, ref.path, auth, 'pull');
      const top = await session.getManifest(ref.digest ?? ref.tag!);
      const descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
      if (isIndexType(top.mediaType)) {
        const index = JSON.parse(top.bytes.toString('utf8')) as ImageIndex;
        return {
          Descriptor: descriptor,
          Platforms: (index.manifests ?? [])
            .filter((m) => m.platform && m.platform.architecture !== 'unknown')
            .map((m) => ({
              architecture: m.platform!.architecture,
              os: m.platform!.os,
              ...(m.platform!.variant ? { variant: m.platform!.variant } : {}),
            })),
        };
      }
      const manifest = JSON.parse(top.bytes.toString('utf8')) as ImageManifest;
      const blob = await session.getBlob(manifest.config.digest);
      const chunks: Buffer[] = [];
      for await (const c of blob.stream) chunks.push(c as Buffer);
      const config = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ImageConfig;
      return {
        Descriptor: descriptor,
        Platforms: [
          {
            architecture: config.architecture,
            os: config.os,
            ...(config.variant ? { variant: config.variant } : {}),
          },
        ],
      };
    } catch (err) {
      throw this.pullError(ref, err);
    }
  },
};
