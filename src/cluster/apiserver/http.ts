/** The HTTP edges of the API server: bodies in (size-capped, JSON, YAML or protobuf), Status and objects out. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import YAML from 'yaml';
import type { Logger } from '../../common/log.js';
import { StorageError } from '../storage/types.js';
import { ApiError, badRequest, type KObject } from './objects.js';
import { PatchError } from './patch.js';
import { unknownFields } from './openapi/fields.js';
import { decodeProtobuf, isProtobuf, ProtobufError } from './protobuf/decode.js';
import type { DeleteOptions } from './registry/strategy.js';
import type { ResourceType } from './resources.js';

const MAX_BODY = 3 << 20;
const MAX_DRAIN = 64 << 20;

export function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** The request body; one over the limit is read to its end (up to a point) so the client gets the 413. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_DRAIN) {
      req.destroy();
      break;
    }
    if (size <= MAX_BODY) chunks.push(c as Buffer);
  }
  if (size > MAX_BODY)
    throw new ApiError(413, 'RequestEntityTooLarge', `the request body is larger than the limit of ${MAX_BODY} bytes`);
  return Buffer.concat(chunks);
}

export function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** YAML bodies (`application/yaml`, server-side apply's `application/apply-patch+yaml`); JSON is YAML too. */
export function parseYaml(buf: Buffer): unknown {
  try {
    // Aliases are capped: a few lines must not expand into gigabytes (a "billion laughs" body).
    return YAML.parse(buf.toString('utf8'), { maxAliasCount: 100 });
  } catch (err) {
    throw badRequest(`the request body is not valid YAML: ${(err as Error).message}`);
  }
}

const isYaml = (contentType: string): boolean =>
  contentType === 'application/yaml' || contentType === 'application/apply-patch+yaml';

/**
 * An object in a request body: JSON, YAML, or protobuf as kubectl's typed commands send it; CBOR is
 * refused.
 */
export function parseObject(buf: Buffer, contentType: string): KObject {
  if (isYaml(contentType)) return parseYaml(buf) as KObject;
  if (isProtobuf(contentType)) {
    try {
      return decodeProtobuf(buf) as KObject;
    } catch (err) {
      if (err instanceof ProtobufError) throw badRequest(err.message);
      throw err;
    }
  }
  if (/cbor/.test(contentType))
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`,
    );
  return parseJson(buf) as KObject;
}

/** The options kind a write's query parameters are read as (the name in Kubernetes' refusals). */
const OPTIONS_KIND: Record<string, string> = {
  POST: 'CreateOptions',
  PUT: 'UpdateOptions',
  PATCH: 'PatchOptions',
  DELETE: 'DeleteOptions',
};

/**
 * Whether a request is a dry run: `dryRun=All`. Any other value is refused (422, as
 * ValidateDryRun), never taken as "not a dry run": a misspelt dry run must not write.
 */
export function dryRunOf(method: string, values: string[]): boolean {
  // Reads have no dry run: the parameter means nothing there, as in Kubernetes.
  if (!OPTIONS_KIND[method]) return false;
  const bad = values.filter((v) => v !== 'All');
  if (bad.length) {
    const kind = OPTIONS_KIND[method] ?? 'ListOptions';
    const message = `dryRun: Unsupported value: []string{${values.map((v) => JSON.stringify(v)).join(', ')}}: supported values: "All"`;
    throw new ApiError(422, 'Invalid', `${kind}.meta.k8s.io "" is invalid: ${message}`, {
      group: 'meta.k8s.io',
      kind,
      causes: [{ reason: 'FieldValueNotSupported', message: message.slice('dryRun: '.length), field: 'dryRun' }],
    });
  }
  return values.length > 0;
}

/** DeleteOptions from the body (kubectl sends one) with query parameters taking precedence. */
export function deleteOptions(q: URLSearchParams, body: Record<string, unknown>): DeleteOptions {
  const o = body as DeleteOptions;
  if (o.dryRun !== undefined && (!Array.isArray(o.dryRun) || o.dryRun.some((v) => typeof v !== 'string')))
    throw badRequest('DeleteOptions.dryRun must be a list of strings');
  if (o.dryRun) dryRunOf('DELETE', o.dryRun);
  const grace = q.get('gracePeriodSeconds');
  const out: DeleteOptions = { ...o, propagationPolicy: q.get('propagationPolicy') ?? o.propagationPolicy };
  if (grace !== null) out.gracePeriodSeconds = Number(grace);
  if (q.get('orphanDependents') !== null) out.orphanDependents = q.get('orphanDependents') === 'true';
  if (out.gracePeriodSeconds !== undefined && (!Number.isInteger(out.gracePeriodSeconds) || out.gracePeriodSeconds < 0))
    throw badRequest(`invalid gracePeriodSeconds: ${String(grace ?? o.gracePeriodSeconds)}`);
  return out;
}

/**
 * Field validation as the request asks (`fieldValidation`, Warn when absent): Strict refuses an object
 * with fields its kind does not have, Warn answers with a Warning header per field, Ignore does neither.
 */
export function fieldChecker(q: URLSearchParams, r: ResourceType, res: ServerResponse): (obj: unknown) => void {
  const mode = q.get('fieldValidation') ?? 'Warn';
  if (!['Strict', 'Warn', 'Ignore'].includes(mode))
    throw badRequest(`fieldValidation must be one of Ignore, Warn or Strict, not "${mode}"`);
  return (obj) => {
    if (mode === 'Ignore' || r.custom) return;
    const unknown = unknownFields(r, obj);
    if (!unknown.length) return;
    if (mode === 'Strict')
      throw badRequest(
        `${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`,
      );
    res.setHeader(
      'Warning',
      unknown.map((f) => `299 - ${JSON.stringify(`unknown field "${f}"`)}`),
    );
  };
}

/** An upgrade (exec) refused before it began: a plain HTTP answer carrying a Status. */
export function refuseUpgrade(socket: Duplex, err: unknown): void {
  const e =
    err instanceof ApiError
      ? err
      : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`);
  const body = JSON.stringify(e.status());
  socket.end(
    `HTTP/1.1 ${e.code} ${e.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function wantsTable(req: IncomingMessage): boolean {
  return /as=Table/.test(req.headers.accept ?? '');
}

/** Metadata only (`as=PartialObjectMetadata`), as the garbage collector and `kubectl` ask for it. */
export function wantsMetadata(req: IncomingMessage): boolean {
  return /as=PartialObjectMetadata/.test(req.headers.accept ?? '') && !wantsTable(req);
}

export const partialMetadata = (o: KObject): KObject => ({
  kind: 'PartialObjectMetadata',
  apiVersion: 'meta.k8s.io/v1',
  metadata: o.metadata,
});

/** A request's error as the client sees it: a Status (a 500 for what nobody expected, logged). */
export function failRequest(res: ServerResponse, err: unknown, logger: Logger): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof ApiError) return send(res, err.code, err.status());
  if (err instanceof PatchError) return send(res, 422, new ApiError(422, 'Invalid', err.message).status());
  if (err instanceof StorageError && err.code === 'compacted')
    return send(res, 410, new ApiError(410, 'Expired', `too old resource version: ${err.message}`).status());
  logger.error({ err: (err as Error).stack ?? String(err) }, 'request failed');
  send(res, 500, new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`).status());
}
