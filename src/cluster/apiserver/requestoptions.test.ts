import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boolQuery, checkContentType, validateListOptions } from './requestoptions.js';

const pods = new Set(['metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.phase']);

test('list and watch options Kubernetes accepts pass', () => {
  const fine: Array<[string, boolean]> = [
    ['', false],
    ['limit=500&continue=x', false],
    ['resourceVersion=0', false],
    ['resourceVersion=12&resourceVersionMatch=NotOlderThan', false],
    ['resourceVersion=12&resourceVersionMatch=Exact', false],
    ['fieldSelector=spec.nodeName%3Dn1,status.phase!%3DRunning', false],
    ['fieldSelector=metadata.name%3D%3Dx', false],
    ['allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=5', true],
    ['allowWatchBookmarks=1&timeoutSeconds=', true],
  ];
  for (const [query, watching] of fine)
    assert.doesNotThrow(() => validateListOptions(new URLSearchParams(query), watching, pods), query);
});

test("bad list and watch options are refused with Kubernetes' words", () => {
  const refused: Array<[string, boolean, number, RegExp]> = [
    ['limit=abc', false, 400, /strconv.ParseInt: parsing "abc": invalid syntax/],
    ['timeoutSeconds=1.5', true, 400, /strconv.ParseInt: parsing "1.5"/],
    ['allowWatchBookmarks=maybe', true, 400, /strconv.ParseBool: parsing "maybe": invalid syntax/],
    ['resourceVersion=abc', false, 400, /invalid resourceVersion: abc/],
    [
      'resourceVersionMatch=Exact',
      false,
      422,
      /resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided/,
    ],
    [
      'resourceVersion=1&resourceVersionMatch=Bogus',
      false,
      422,
      /Unsupported value: "Bogus": supported values: "Exact", "NotOlderThan", ""/,
    ],
    ['resourceVersion=0&resourceVersionMatch=Exact', false, 422, /forbidden for resourceVersion "0"/],
    ['resourceVersion=3&resourceVersionMatch=Exact&continue=x', false, 422, /forbidden when continue is provided/],
    ['sendInitialEvents=true', false, 422, /sendInitialEvents is forbidden for list/],
    [
      'sendInitialEvents=true&resourceVersionMatch=NotOlderThan',
      true,
      422,
      /unless the WatchList feature gate is enabled/,
    ],
    ['resourceVersionMatch=NotOlderThan', true, 422, /forbidden for watch unless sendInitialEvents is provided/],
    ['sendInitialEvents=bogus', true, 400, /strconv.ParseBool/],
    ['fieldSelector=spec.unknown%3Dx', false, 400, /field label not supported: spec.unknown/],
    [
      'fieldSelector=metadata.name%3Da,spec.restartPolicy!%3DAlways',
      false,
      400,
      /field label not supported: spec.restartPolicy/,
    ],
  ];
  for (const [query, watching, code, message] of refused)
    assert.throws(() => validateListOptions(new URLSearchParams(query), watching, pods), { code, message }, query);
});

test('booleans as strconv.ParseBool reads them', () => {
  for (const v of ['1', 't', 'TRUE', 'true', 'True'])
    assert.equal(boolQuery(new URLSearchParams({ watch: v }), 'watch'), true);
  for (const v of ['0', 'f', 'false', 'False'])
    assert.equal(boolQuery(new URLSearchParams({ watch: v }), 'watch'), false);
  assert.equal(boolQuery(new URLSearchParams(), 'watch'), false);
  assert.throws(() => boolQuery(new URLSearchParams({ watch: 'yes' }), 'watch'), /strconv.ParseBool/);
});

test('media types: JSON, YAML or protobuf to create or replace, the four patch types to patch; else 415', () => {
  for (const type of ['', 'application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'])
    assert.doesNotThrow(() => checkContentType('POST', type), type);
  for (const type of ['application/merge-patch+json', 'application/apply-patch+yaml', 'application/json-patch+json'])
    assert.doesNotThrow(() => checkContentType('PATCH', type), type);
  assert.doesNotThrow(() => checkContentType('GET', 'text/plain'));
  for (const [method, type] of [
    ['POST', 'text/plain'],
    ['PUT', 'application/x-www-form-urlencoded'],
    ['POST', 'application/merge-patch+json'],
    ['PATCH', 'application/json'],
    ['PATCH', ''],
  ])
    assert.throws(
      () => checkContentType(method!, type!),
      { code: 415, message: /accepted media types include/ },
      `${method} ${type}`,
    );
});
