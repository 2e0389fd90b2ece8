import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../../../api/object.js';
import { jobs } from './job.js';

const job = (spec: Record<string, unknown>): KObject => {
  const o: KObject = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'pi', namespace: 'default', uid: 'u1' },
    spec: {
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox' }] } },
      ...spec,
    },
  };
  jobs.defaults?.(o);
  return o;
};

const problem = (o: KObject): string => {
  try {
    // A Job's validation reads nothing of the server's context.
    jobs.validate?.(o, {} as Parameters<NonNullable<typeof jobs.validate>>[1]);
    return '';
  } catch (err) {
    return (err as Error).message;
  }
};

test("backoffLimitPerIndex and maxFailedIndexes: Kubernetes' defaults and rules", () => {
  assert.equal(
    (job({ completionMode: 'Indexed', completions: 3, backoffLimitPerIndex: 1 }).spec as { backoffLimit: number })
      .backoffLimit,
    2147483647,
  );
  assert.equal((job({}).spec as { backoffLimit: number }).backoffLimit, 6);
  const indexed = { completionMode: 'Indexed', completions: 3 };
  const cases: Array<[string, Record<string, unknown>, RegExp | '']> = [
    ['per-index limit on an Indexed Job', { ...indexed, backoffLimitPerIndex: 1, maxFailedIndexes: 2 }, ''],
    [
      'not Indexed',
      { backoffLimitPerIndex: 1 },
      /spec\.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode/,
    ],
    [
      'negative',
      { ...indexed, backoffLimitPerIndex: -1 },
      /spec\.backoffLimitPerIndex: Invalid value: -1: must be greater than or equal to 0/,
    ],
    [
      'max without per-index',
      { ...indexed, maxFailedIndexes: 1 },
      /spec\.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified/,
    ],
    [
      'max past completions',
      { ...indexed, backoffLimitPerIndex: 1, maxFailedIndexes: 4 },
      /spec\.maxFailedIndexes: Invalid value: 4: must be less than or equal to completions/,
    ],
    [
      'FailIndex without per-index',
      {
        ...indexed,
        podFailurePolicy: { rules: [{ action: 'FailIndex', onExitCodes: { operator: 'In', values: [3] } }] },
      },
      /spec\.podFailurePolicy\.rules\[0\]\.action: Invalid value: "FailIndex": requires the backoffLimitPerIndex to be set/,
    ],
  ];
  for (const [what, spec, want] of cases) {
    const message = problem(job(spec));
    if (want === '') assert.equal(message, '', what);
    else assert.match(message, want, what);
  }
});

test('backoffLimitPerIndex is fixed after creation', () => {
  const before = job({ completionMode: 'Indexed', completions: 3, backoffLimitPerIndex: 1 });
  const after = job({ completionMode: 'Indexed', completions: 3, backoffLimitPerIndex: 2 });
  assert.throws(
    () => jobs.validateUpdate?.(before, after),
    /spec\.backoffLimitPerIndex: Invalid value: 2: field is immutable/,
  );
});
