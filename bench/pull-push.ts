/**
 * Pull and push of a ~200 MB image against a loopback registry, side by side with `skopeo copy` in the
 * same run. Gantry's pull also unpacks every layer into snapshots (what `docker pull` does); skopeo's
 * copy to an OCI layout only stores blobs, so the comparison favours skopeo.
 *
 *   node --import tsx bench/pull-push.ts [--runs 3]
 */
import { promises as fs, mkdtempSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { Cleanup, startDaemon, startRegistry } from '../test/e2e/helpers.js';
import { sha256, hexOf } from '../src/common/digest.js';
import { readAll } from '../src/common/streams.js';
import { packDirectory } from '../src/diff/archive.js';
import { MediaType } from '../src/images/oci.js';
import { cpuSeconds, median, row, sh, shAsync, shAsyncCpu, time } from './lib.js';

/**
 * An OCI layout holding one image: `layered`, four layers (a binary, random data, text, many small
 * files); `single`, the case, one layer of about 200 MB compressed (a binary and random data).
 */
export async function makeImage(dir: string, kind: 'layered' | 'single' = 'layered'): Promise<number> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-src-'));
  const layers: Array<{ gz: Buffer; diffId: string }> = [];
  try {
    const single = async (d: string): Promise<void> => {
      await fs.mkdir(path.join(d, 'usr/bin'), { recursive: true });
      await fs.copyFile(process.execPath, path.join(d, 'usr/bin/node'));
      await fs.mkdir(path.join(d, 'data'), { recursive: true });
      for (let i = 0; i < 4; i++) await fs.writeFile(path.join(d, `data/blob${i}`), randomBytes(40 << 20));
    };
    const layered: Array<(d: string) => Promise<void>> = [
      async (d) => {
        await fs.mkdir(path.join(d, 'usr/bin'), { recursive: true });
        await fs.copyFile(process.execPath, path.join(d, 'usr/bin/node'));
      },
      async (d) => {
        await fs.mkdir(path.join(d, 'data'), { recursive: true });
        for (let i = 0; i < 4; i++) await fs.writeFile(path.join(d, `data/blob${i}`), randomBytes(12 << 20));
      },
      async (d) => {
        await fs.mkdir(path.join(d, 'srv/text'), { recursive: true });
        const words = Array.from({ length: 5000 }, () => randomBytes(4).toString('hex'));
        for (let i = 0; i < 20; i++) {
          await fs.writeFile(
            path.join(d, `srv/text/f${i}.txt`),
            Array.from({ length: 300000 }, (_x, j) => words[(i * 7919 + j * 31) % words.length]).join(' '),
          );
        }
      },
      async (d) => {
        for (let i = 0; i < 2000; i++) {
          const sub = path.join(d, `app/mod${i % 50}`);
          await fs.mkdir(sub, { recursive: true });
          await fs.writeFile(
            path.join(sub, `file${i}.js`),
            `module.exports = ${JSON.stringify(randomBytes(800).toString('base64'))};\n`,
          );
        }
      },
    ];
    const parts = kind === 'single' ? [single] : layered;
    for (const [i, fill] of parts.entries()) {
      const d = path.join(work, String(i));
      await fs.mkdir(d);
      await fill(d);
      const tar = await readAll(packDirectory(d));
      layers.push({ gz: gzipSync(tar, { level: 1 }), diffId: sha256(tar) });
    }
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
  await fs.mkdir(path.join(dir, 'blobs/sha256'), { recursive: true });
  const put = async (b: Buffer): Promise<string> => {
    const d = sha256(b);
    await fs.writeFile(path.join(dir, 'blobs/sha256', hexOf(d)), b);
    return d;
  };
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: await put(config), size: config.length },
      layers: await Promise.all(
        layers.map(async (l) => ({ mediaType: MediaType.OciLayerGzip, digest: await put(l.gz), size: l.gz.length })),
      ),
    }),
  );
  const md = await put(manifest);
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await fs.writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: MediaType.OciManifest,
          digest: md,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': 'big' },
        },
      ],
    }),
  );
  return layers.reduce((a, l) => a + l.gz.length, 0) + config.length;
}

/** The case: one layer of ~200 MB, pulled and unpacked by gantry against skopeo's copy. */
async function pullSingleLayer(cleanup: Cleanup, runs: number): Promise<void> {
  const layout = mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-img1-'));
  cleanup.add(() => fs.rm(layout, { recursive: true, force: true }));
  const bytes = await makeImage(layout, 'single');
  process.stdout.write(`image: ${(bytes / 1e6).toFixed(0)} MB compressed in 1 layer\n`);
  const reg = await startRegistry(cleanup, 'gantry');
  sh('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:big`, `docker://${reg.addr}/bench/one:1`]);
  const gantry: number[] = [];
  const skopeo: number[] = [];
  // CPU seconds of each side: the daemon's and skopeo's, and the registry's while it served each.
  const cpu = { daemon: [] as number[], skopeo: [] as number[], regG: [] as number[], regS: [] as number[] };
  for (let i = 0; i < runs; i++) {
    const c = new Cleanup();
    const d = await startDaemon(c);
    const before = [cpuSeconds(d.proc.pid), cpuSeconds(reg.pid)];
    gantry.push(await time(() => shAsync('docker', ['pull', '-q', `${reg.addr}/bench/one:1`], d.env)));
    cpu.daemon.push(cpuSeconds(d.proc.pid) - before[0]!);
    cpu.regG.push(cpuSeconds(reg.pid) - before[1]!);
    const out = mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-skopeo-'));
    c.add(() => fs.rm(out, { recursive: true, force: true }));
    const regBefore = cpuSeconds(reg.pid);
    skopeo.push(
      await time(async () =>
        cpu.skopeo.push(
          await shAsyncCpu('skopeo', [
            'copy',
            '--src-tls-verify=false',
            `docker://${reg.addr}/bench/one:1`,
            `oci:${out}:one`,
          ]),
        ),
      ),
    );
    cpu.regS.push(cpuSeconds(reg.pid) - regBefore);
    await c.run();
  }
  row('pull, 1 layer (docker CLI)', median(gantry), 'skopeo copy', median(skopeo), bytes);
  const s = (xs: number[]): string => `${median(xs).toFixed(2)} s`;
  process.stdout.write(
    `  CPU, medians: gantry daemon ${s(cpu.daemon)} (registry ${s(cpu.regG)}) | skopeo ${s(cpu.skopeo)} (registry ${s(cpu.regS)}) | ${os.cpus().length} cores\n`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
  const runs = Number(values.runs);
  const cleanup = new Cleanup();
  try {
    const layout = mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-img-'));
    cleanup.add(() => fs.rm(layout, { recursive: true, force: true }));
    const bytes = await makeImage(layout);
    process.stdout.write(`image: ${(bytes / 1e6).toFixed(0)} MB compressed in 4 layers; ${runs} runs each, medians\n`);
    const reg = await startRegistry(cleanup, 'gantry');
    sh('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:big`, `docker://${reg.addr}/bench/big:1`]);

    const pullG: number[] = [];
    const pullS: number[] = [];
    const pushG: number[] = [];
    const pushS: number[] = [];
    for (let i = 0; i < runs; i++) {
      const c = new Cleanup();
      const d = await startDaemon(c);
      pullG.push(await time(() => shAsync('docker', ['pull', '-q', `${reg.addr}/bench/big:1`], d.env)));
      const out = mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-skopeo-'));
      c.add(() => fs.rm(out, { recursive: true, force: true }));
      pullS.push(
        await time(() =>
          shAsync('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.addr}/bench/big:1`, `oci:${out}:big`]),
        ),
      );

      // Push into fresh registries so nothing can be skipped or mounted.
      const target = await startRegistry(c, 'gantry');
      sh('docker', ['tag', `${reg.addr}/bench/big:1`, `${target.addr}/push/big:1`], d.env);
      pushG.push(await time(() => shAsync('docker', ['push', '-q', `${target.addr}/push/big:1`], d.env)));
      const target2 = await startRegistry(c, 'gantry');
      pushS.push(
        await time(() =>
          shAsync('skopeo', [
            'copy',
            '--dest-tls-verify=false',
            `oci:${out}:big`,
            `docker://${target2.addr}/push/big:1`,
          ]),
        ),
      );
      await c.run();
    }
    row('pull, 4 layers (docker CLI)', median(pullG), 'skopeo copy', median(pullS), bytes);
    row('push, 4 layers (docker CLI)', median(pushG), 'skopeo copy', median(pushS), bytes);
    await pullSingleLayer(cleanup, runs);
  } finally {
    await cleanup.run();
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
