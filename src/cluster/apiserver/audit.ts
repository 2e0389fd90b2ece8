/**
 * The audit hook, as the API server's `--audit-log-path`: one `audit.k8s.io/v1` Event per request, at
 * Kubernetes' Metadata level (who, what, on which object, with what answer — never a body, a token or a
 * header), written as JSON lines to a file only its owner reads. Watches are logged when they end.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UserInfo } from './auth.js';

/** What the filters learn of a request as it passes them. */
export interface AuditContext {
  received: string;
  user?: UserInfo;
  impersonatedBy?: UserInfo;
  verb?: string;
  objectRef?: {
    resource: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
    apiVersion: string;
    subresource?: string;
  };
}

export type AuditSink = (event: Record<string, unknown>) => void;

const micro = (d: Date): string => d.toISOString().replace(/(\.\d{3})Z$/, '$1000Z');

/** The Event for a finished request. */
export function auditEvent(req: IncomingMessage, res: ServerResponse, ctx: AuditContext): Record<string, unknown> {
  const user = ctx.impersonatedBy ?? ctx.user;
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: randomUUID(),
    stage: 'ResponseComplete',
    requestURI: req.url ?? '/',
    verb: ctx.verb ?? (req.method ?? 'GET').toLowerCase(),
    user: user
      ? { username: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups }
      : { username: 'system:anonymous', groups: ['system:unauthenticated'] },
    ...(ctx.impersonatedBy && ctx.user
      ? { impersonatedUser: { username: ctx.user.username, groups: ctx.user.groups } }
      : {}),
    sourceIPs: [req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? ''],
    userAgent: req.headers['user-agent'] ?? '',
    ...(ctx.objectRef ? { objectRef: ctx.objectRef } : {}),
    responseStatus: { metadata: {}, code: res.statusCode },
    requestReceivedTimestamp: ctx.received,
    stageTimestamp: micro(new Date()),
  };
}

/** A JSON-lines audit log (mode 0600, appended). */
export function fileAuditSink(file: string): { sink: AuditSink; close: () => void } {
  const out: WriteStream = createWriteStream(file, { flags: 'a', mode: 0o600 });
  return { sink: (e) => void out.write(JSON.stringify(e) + '\n'), close: () => out.end() };
}

export const auditNow = (): string => micro(new Date());
