/**
 * Write the protobuf schema of the Kubernetes API types that Gantry's API server decodes
 * (`src/cluster/apiserver/protobuf/k8s-types.json`, protobufjs's JSON form).
 *
 * kubectl 1.30 and later send the bodies of typed requests (`kubectl create deployment`,
 * `create namespace`, `auth can-i`, ...) as `application/vnd.kubernetes.protobuf`. The schema is the
 * one those clients were compiled with: every Go binary built from k8s.io/api registers each
 * `generated.proto` as a gzipped FileDescriptorProto, so this script reads them out of a kubectl binary
 * instead of hand-copying .proto files.
 *
 * Usage: make-k8s-proto-schema.ts [KUBECTL_BINARY]   (default: the kubectl on PATH)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { constants, inflateRawSync } from 'node:zlib';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';

/** The API groups the server serves (and what they import). */
const WANTED =
  /^k8s\.io\/(apimachinery\/pkg\/(apis\/meta\/v1|runtime|runtime\/schema|api\/resource|util\/intstr)|api\/(core|apps|batch|rbac|networking|policy|autoscaling|coordination|discovery|storage|authentication|authorization|events|scheduling)\/(v1|v2))\/generated\.proto$/;

const binary = process.argv[2] ?? execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim();
const data = readFileSync(binary);
const files = new Map<string, unknown>();
const magic = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00]);
for (let at = data.indexOf(magic); at >= 0; at = data.indexOf(magic, at + 1)) {
  let raw: Buffer;
  try {
    // Raw inflate after the 10-byte header stops at the member's end (gunzip would run on into the
    // next descriptor's stream).
    raw = inflateRawSync(data.subarray(at + 10, at + (4 << 20)), { finishFlush: constants.Z_SYNC_FLUSH });
  } catch {
    continue;
  }
  let file: { name?: string };
  try {
    file = descriptor.FileDescriptorProto.decode(raw) as unknown as { name?: string };
  } catch {
    continue;
  }
  if (file.name && WANTED.test(file.name) && !files.has(file.name)) files.set(file.name, file);
}
if (files.size < 10) throw new Error(`only ${files.size} Kubernetes descriptors found in ${binary}`);
const set = descriptor.FileDescriptorSet.create({ file: [...files.values()] as never });
const root = (protobuf.Root as unknown as { fromDescriptor(d: unknown): protobuf.Root }).fromDescriptor(set);
const out = new URL('../src/cluster/apiserver/protobuf/k8s-types.json', import.meta.url);
writeFileSync(
  out,
  JSON.stringify({
    source: `${[...files.keys()].length} generated.proto files from ${binary}`,
    schema: root.toJSON(),
  }) + '\n',
);
console.log(`wrote ${[...files.keys()].sort().join(', ')}`);
