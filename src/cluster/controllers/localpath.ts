/**
 * The built-in dynamic provisioner `gantry.io/local-path` (what rancher's local-path-provisioner is to
 * k3s): a claim's volume is a directory on the node its first pod was scheduled to, under the class's
 * `nodePath` parameter or the server's `--default-local-storage-path`. The volume is a `hostPath`
 * (DirectoryOrCreate: the node's agent makes it at the first mount) pinned to that node by node
 * affinity, so the pod comes back to its data. Its finalizer is the node agent's: once the volume is
 * deleted the agent removes the directory, then the finalizer.
 */
import path from 'node:path';
import type { KObject } from '../api/object.js';
import {
  claimSpec,
  LOCAL_PATH_FINALIZER,
  LOCAL_PATH_NODE,
  LOCAL_PATH_PROVISIONER,
  PROVISIONED_BY,
} from '../api/volume.js';
import { ProvisioningError, type Provisioner } from './persistentvolume.js';

/** An absolute, normalized path without ':' (it becomes a bind mount's source). */
export const isStorageRoot = (p: unknown): p is string =>
  typeof p === 'string' && path.isAbsolute(p) && path.normalize(p) === p && !p.includes(':') && p !== '/';

export class LocalPathProvisioner implements Provisioner {
  readonly name = LOCAL_PATH_PROVISIONER;

  constructor(private readonly defaultRoot: string) {}

  provision(claim: KObject, storageClass: KObject, node: string | undefined): KObject {
    if (!node)
      throw new ProvisioningError(
        `the ${LOCAL_PATH_PROVISIONER} provisioner makes a directory on one node: its StorageClass needs volumeBindingMode WaitForFirstConsumer`,
      );
    const root = (storageClass.parameters as Record<string, string> | undefined)?.nodePath ?? this.defaultRoot;
    if (!isStorageRoot(root))
      throw new ProvisioningError(`StorageClass parameter nodePath ${JSON.stringify(root)} is not an absolute path`);
    const meta = claim.metadata!;
    const c = claimSpec(claim);
    const name = `pvc-${meta.uid}`;
    return {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: {
        name,
        annotations: { [PROVISIONED_BY]: LOCAL_PATH_PROVISIONER, [LOCAL_PATH_NODE]: node },
        finalizers: [LOCAL_PATH_FINALIZER],
      },
      spec: {
        capacity: { storage: c.resources?.requests?.storage },
        accessModes: c.accessModes,
        persistentVolumeReclaimPolicy: storageClass.reclaimPolicy ?? 'Delete',
        storageClassName: storageClass.metadata!.name,
        volumeMode: 'Filesystem',
        claimRef: {
          kind: 'PersistentVolumeClaim',
          apiVersion: 'v1',
          namespace: meta.namespace,
          name: meta.name,
          uid: meta.uid,
        },
        // Namespace and claim names are DNS labels and subdomains: safe in one path component.
        hostPath: { path: path.join(root, `${name}_${meta.namespace}_${meta.name}`), type: 'DirectoryOrCreate' },
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
            ],
          },
        },
      },
    };
  }
}
