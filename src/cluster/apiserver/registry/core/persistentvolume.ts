/**
 * PersistentVolumes and PersistentVolumeClaims, as Kubernetes' `pkg/registry/core/persistentvolume*`
 * with the admission plugins that touch them: defaults, the validation users meet (capacity, access
 * modes, one volume source, reclaim policy), the claim's spec fixed after creation but for its size, the
 * default StorageClass put on a claim that names none (DefaultStorageClass), the protection finalizers
 * (StorageObjectInUseProtection), and kubectl's columns.
 */
import { isDnsSubdomain, type FieldProblem } from '../../../api/validation.js';
import { parseQuantity } from '../../../api/quantity.js';
import { DEFAULT_CLASS_ANNOTATION, PV_PROTECTION, PVC_PROTECTION } from '../../../api/volume.js';
import { invalid, type KObject } from '../../objects.js';
import { resourceType } from '../../resources.js';
import { findDefault } from '../defaults.js';
import { ageColumn, nameColumn, spec, status, type Column } from '../../tables.js';
import { obj, refuse } from '../../validation.js';
import { same } from '../podtemplate.js';
import type { RegistryContext, Strategy } from '../strategy.js';

type Obj = Record<string, unknown>;

const ACCESS_MODES: Record<string, string> = {
  ReadWriteOnce: 'RWO',
  ReadOnlyMany: 'ROX',
  ReadWriteMany: 'RWX',
  ReadWriteOncePod: 'RWOP',
};

/** The volume sources a PersistentVolume may have (exactly one). */
const VOLUME_SOURCES = [
  'awsElasticBlockStore',
  'azureDisk',
  'azureFile',
  'cephfs',
  'cinder',
  'csi',
  'fc',
  'flexVolume',
  'flocker',
  'gcePersistentDisk',
  'glusterfs',
  'hostPath',
  'iscsi',
  'local',
  'nfs',
  'photonPersistentDisk',
  'portworxVolume',
  'quobyte',
  'rbd',
  'scaleIO',
  'storageos',
  'vsphereVolume',
];

const pvResource = resourceType('', 'v1', 'PersistentVolume', 'persistentvolumes', false, {
  shortNames: ['pv'],
  subresources: ['status'],
});
const pvcResource = resourceType('', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', true, {
  shortNames: ['pvc'],
  subresources: ['status'],
});

const modesText = (modes: unknown): string =>
  (Array.isArray(modes) ? modes : []).map((m) => ACCESS_MODES[String(m)] ?? String(m)).join(',');

/** kubectl's Status column: the phase, or Terminating once deletion began. */
const phaseCell = (o: KObject): string =>
  o.metadata?.deletionTimestamp ? 'Terminating' : String(status(o).phase ?? '');

const storageOf = (resources: unknown): string => String(obj(resources)?.storage ?? '');

function accessModeProblems(modes: unknown, required: string): FieldProblem[] {
  if (!Array.isArray(modes) || modes.length === 0) return [{ field: 'spec.accessModes', message: required }];
  const out: FieldProblem[] = [];
  for (const m of modes)
    if (!(String(m) in ACCESS_MODES))
      out.push({
        field: 'spec.accessModes',
        message: `Unsupported value: ${JSON.stringify(m)}: supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"`,
      });
  if (modes.includes('ReadWriteOncePod') && modes.length > 1)
    out.push({
      field: 'spec.accessModes',
      message: 'Forbidden: may not use ReadWriteOncePod with other access modes',
    });
  return out;
}

function storageProblems(field: string, q: unknown): FieldProblem[] {
  if (q === undefined) return [{ field, message: 'Required value' }];
  const v = parseQuantity(q);
  if (v === undefined) return [{ field, value: q, message: 'must be a quantity' }];
  if (v <= 0) return [{ field, value: q, message: 'must be greater than zero' }];
  return [];
}

function classNameProblems(name: unknown): FieldProblem[] {
  if (name === undefined || name === '' || isDnsSubdomain(name)) return [];
  return [
    {
      field: 'spec.storageClassName',
      value: name,
      message: "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
    },
  ];
}

const volumeModeProblems = (mode: unknown): FieldProblem[] =>
  mode === undefined || mode === 'Filesystem'
    ? []
    : [
        {
          field: 'spec.volumeMode',
          message: `Unsupported value: ${JSON.stringify(mode)}: supported values: "Filesystem"`,
        },
      ];

/** An absolute path without `..` or ':' (which would add bind options). */
function hostPathProblems(field: string, p: unknown): FieldProblem[] {
  if (typeof p !== 'string' || p === '') return [{ field, message: 'Required value' }];
  if (!p.startsWith('/')) return [{ field, value: p, message: 'must be an absolute path' }];
  if (p.split('/').includes('..')) return [{ field, value: p, message: "must not contain '..'" }];
  if (p.includes(':')) return [{ field, value: p, message: "must not contain ':'" }];
  return [];
}

export function persistentVolumeProblems(o: KObject): FieldProblem[] {
  const s = spec(o);
  const out: FieldProblem[] = [];
  const capacity = obj(s.capacity);
  if (!capacity) out.push({ field: 'spec.capacity', message: 'Required value' });
  else out.push(...storageProblems('spec.capacity.storage', capacity.storage));
  out.push(...accessModeProblems(s.accessModes, 'Required value'));
  const policy = s.persistentVolumeReclaimPolicy;
  if (!['Delete', 'Recycle', 'Retain'].includes(String(policy)))
    out.push({
      field: 'spec.persistentVolumeReclaimPolicy',
      message: `Unsupported value: ${JSON.stringify(policy)}: supported values: "Delete", "Recycle", "Retain"`,
    });
  const sources = VOLUME_SOURCES.filter((k) => s[k] !== undefined && s[k] !== null);
  if (sources.length === 0) out.push({ field: 'spec', message: 'Required value: must specify a volume type' });
  for (const extra of sources.slice(1))
    out.push({ field: `spec.${extra}`, message: 'Forbidden: may not specify more than 1 volume type' });
  if (obj(s.hostPath)) out.push(...hostPathProblems('spec.hostPath.path', obj(s.hostPath)!.path));
  if (obj(s.local)) {
    out.push(...hostPathProblems('spec.local.path', obj(s.local)!.path));
    if (!obj(obj(s.nodeAffinity)?.required))
      out.push({ field: 'spec.nodeAffinity', message: 'Required value: Local volume requires node affinity' });
  }
  out.push(...classNameProblems(s.storageClassName), ...volumeModeProblems(s.volumeMode));
  return out;
}

export function persistentVolumeClaimProblems(o: KObject): FieldProblem[] {
  const s = spec(o);
  return [
    ...accessModeProblems(s.accessModes, 'Required value: at least 1 access mode is required'),
    ...storageProblems('spec.resources[storage]', obj(obj(s.resources)?.requests)?.storage),
    ...classNameProblems(s.storageClassName),
    ...volumeModeProblems(s.volumeMode),
  ];
}

const addFinalizer = (o: KObject, finalizer: string): void => {
  const meta = o.metadata!;
  if (!meta.finalizers?.includes(finalizer)) meta.finalizers = [...(meta.finalizers ?? []), finalizer];
};

const claimColumn: Column = {
  name: 'Claim',
  type: 'string',
  cell: (o) => {
    const ref = obj(spec(o).claimRef);
    return ref?.name ? `${String(ref.namespace ?? '')}/${String(ref.name)}` : '';
  },
};
const classColumn: Column = { name: 'StorageClass', type: 'string', cell: (o) => spec(o).storageClassName ?? '' };
const attributesClassColumn: Column = {
  name: 'VolumeAttributesClass',
  type: 'string',
  cell: (o) => spec(o).volumeAttributesClassName ?? '<unset>',
};
const volumeModeColumn: Column = {
  name: 'VolumeMode',
  type: 'string',
  priority: 1,
  cell: (o) => spec(o).volumeMode ?? '',
};

const immutable = (r: typeof pvResource, o: KObject, field: string, message: string): never => {
  throw invalid(r, o.metadata?.name ?? '', [{ field, message }]);
};

export const persistentVolumes: Strategy = {
  resource: pvResource,
  defaults(o) {
    const s = (o.spec ??= {}) as Obj;
    s.persistentVolumeReclaimPolicy ??= 'Retain';
    s.volumeMode ??= 'Filesystem';
  },
  prepareCreate(o) {
    addFinalizer(o, PV_PROTECTION);
    o.status = { phase: 'Pending' };
  },
  validate(o) {
    refuse(pvResource, o, persistentVolumeProblems(o));
  },
  validateUpdate(cur, next) {
    const was = spec(cur);
    const now = spec(next);
    for (const k of VOLUME_SOURCES)
      if (!same(was[k], now[k]))
        immutable(
          pvResource,
          cur,
          'spec.persistentvolumesource',
          'Forbidden: spec.persistentvolumesource is immutable after creation',
        );
    if (was.volumeMode !== now.volumeMode) immutable(pvResource, cur, 'spec.volumeMode', 'field is immutable');
    if (was.nodeAffinity && !same(was.nodeAffinity, now.nodeAffinity))
      immutable(pvResource, cur, 'spec.nodeAffinity', 'field is immutable once set');
  },
  columns: [
    nameColumn,
    { name: 'Capacity', type: 'string', cell: (o) => storageOf(spec(o).capacity) },
    { name: 'Access Modes', type: 'string', cell: (o) => modesText(spec(o).accessModes) },
    { name: 'Reclaim Policy', type: 'string', cell: (o) => spec(o).persistentVolumeReclaimPolicy ?? '' },
    { name: 'Status', type: 'string', cell: phaseCell },
    claimColumn,
    classColumn,
    attributesClassColumn,
    { name: 'Reason', type: 'string', cell: (o) => status(o).reason ?? '' },
    ageColumn,
    volumeModeColumn,
  ],
};

/** The DefaultStorageClass admission plugin's choice: the newest class annotated default (several may be). */
async function defaultClassName(ctx: RegistryContext): Promise<string | undefined> {
  const classes = await findDefault(
    ctx,
    'storageclasses',
    (sc) => sc.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true',
  );
  return classes.sort((a, b) =>
    String(b.metadata?.creationTimestamp).localeCompare(String(a.metadata?.creationTimestamp)),
  )[0]?.metadata?.name;
}

export const persistentVolumeClaims: Strategy = {
  resource: pvcResource,
  defaults(o) {
    const s = (o.spec ??= {}) as Obj;
    s.volumeMode ??= 'Filesystem';
  },
  async prepareCreate(o, ctx) {
    const s = o.spec as Obj;
    // Unset means "the default class"; an empty string asks for none.
    if (s.storageClassName === undefined || s.storageClassName === null) {
      const name = await defaultClassName(ctx);
      if (name) s.storageClassName = name;
    }
    addFinalizer(o, PVC_PROTECTION);
    o.status = { phase: 'Pending' };
  },
  validate(o) {
    refuse(pvcResource, o, persistentVolumeClaimProblems(o));
  },
  validateUpdate(cur, next) {
    const size = (o: KObject): number | undefined => parseQuantity(obj(obj(spec(o).resources)?.requests)?.storage);
    const before = size(cur);
    const after = size(next);
    if (before !== undefined && after !== undefined && after < before)
      immutable(
        pvcResource,
        cur,
        'spec.resources.requests.storage',
        'Forbidden: field can not be less than previous value',
      );
    // The size may change and the binder fills volumeName once; nothing else may.
    const fixed = (o: KObject, volumeName: unknown): Obj => ({ ...spec(o), resources: undefined, volumeName });
    const was = spec(cur).volumeName;
    if (!same(fixed(cur, was), fixed(next, was ? spec(next).volumeName : was)))
      immutable(
        pvcResource,
        cur,
        'spec',
        'Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims',
      );
  },
  columns: [
    nameColumn,
    { name: 'Status', type: 'string', cell: phaseCell },
    { name: 'Volume', type: 'string', cell: (o) => spec(o).volumeName ?? '' },
    { name: 'Capacity', type: 'string', cell: (o) => storageOf(status(o).capacity) },
    { name: 'Access Modes', type: 'string', cell: (o) => modesText(status(o).accessModes) },
    classColumn,
    attributesClassColumn,
    ageColumn,
    volumeModeColumn,
  ],
};
