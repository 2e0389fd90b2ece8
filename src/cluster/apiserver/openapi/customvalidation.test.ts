import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateCustomObject, type SchemaProps } from './customvalidation.js';

const schema: SchemaProps = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      required: ['size'],
      properties: {
        size: { type: 'integer', minimum: 1, maximum: 10 },
        color: { type: 'string', enum: ['red', 'blue'] },
        name: { type: 'string', pattern: '^[a-z]+$', maxLength: 5 },
        port: { 'x-kubernetes-int-or-string': true },
        tags: { type: 'array', maxItems: 2, items: { type: 'string' } },
        note: { type: 'string', nullable: true },
        extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    status: { type: 'object', properties: { ready: { type: 'boolean' } } },
  },
};

test('a valid custom object passes, its unknown fields pruned unless preserved', () => {
  const obj = {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w', anything: 1 },
    spec: {
      size: 3,
      color: 'red',
      name: 'abc',
      port: 'http',
      tags: ['a'],
      note: null,
      unknownSpec: 1,
      extra: { free: [1] },
      labels: { a: 'b' },
    },
    status: { ready: true, junk: 'x' },
    topLevelJunk: true,
  };
  assert.deepEqual(validateCustomObject(schema, obj), []);
  assert.deepEqual(obj, {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w', anything: 1 },
    spec: {
      size: 3,
      color: 'red',
      name: 'abc',
      port: 'http',
      tags: ['a'],
      note: null,
      extra: { free: [1] },
      labels: { a: 'b' },
    },
    status: { ready: true },
  });
});

test("invalid custom objects are refused field by field in Kubernetes' words", () => {
  const cases: Array<[Record<string, unknown>, Array<{ field: string; message: string }>]> = [
    [{ spec: {} }, [{ field: 'spec.size', message: 'Required value' }]],
    [
      { spec: { size: 'three' } },
      [{ field: 'spec.size', message: 'spec.size in body must be of type integer: "string"' }],
    ],
    [
      { spec: { size: 0 } },
      [{ field: 'spec.size', message: 'spec.size in body should be greater than or equal to 1' }],
    ],
    [{ spec: { size: 11 } }, [{ field: 'spec.size', message: 'spec.size in body should be less than or equal to 10' }]],
    [
      { spec: { size: 1, color: 'pink' } },
      [{ field: 'spec.color', message: 'Unsupported value: "pink": supported values: "red", "blue"' }],
    ],
    [
      { spec: { size: 1, name: 'ABC' } },
      [{ field: 'spec.name', message: "spec.name in body should match '^[a-z]+$'" }],
    ],
    [
      { spec: { size: 1, port: true } },
      [{ field: 'spec.port', message: 'spec.port in body must be of type integer or string: "boolean"' }],
    ],
    [
      { spec: { size: 1, tags: ['a', 'b', 'c'] } },
      [{ field: 'spec.tags', message: 'Too many: 3: must have at most 2 items' }],
    ],
    [
      { spec: { size: 1, tags: [1] } },
      [{ field: 'spec.tags[0]', message: 'spec.tags[0] in body must be of type string: "integer"' }],
    ],
    [
      { spec: { size: 1, labels: { a: 1 } } },
      [{ field: 'spec.labels.a', message: 'spec.labels.a in body must be of type string: "integer"' }],
    ],
    [{ spec: 'x' }, [{ field: 'spec', message: 'spec in body must be of type object: "string"' }]],
    [{ spec: { size: null } }, [{ field: 'spec.size', message: 'spec.size in body must be of type integer: "null"' }]],
  ];
  for (const [obj, want] of cases)
    assert.deepEqual(
      validateCustomObject(schema, obj).map(({ field, message }) => ({ field, message })),
      want,
      JSON.stringify(obj),
    );
});
