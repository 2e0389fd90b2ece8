/**
 * What every server of a cluster must share — the cluster CA and its key, the ServiceAccount signing
 * key and the node join token — kept in the datastore encrypted with the server token, as k3s keeps
 * its bootstrap data: the first server puts its own there; a server started later on the same datastore
 * with the same token takes them from there before it makes anything, so all serve with one CA and sign
 * tokens with one key. The key is derived from the token with scrypt (random salt) and the files are
 * sealed with AES-256-GCM, so a datastore reader without the token learns nothing and a tampered record
 * fails to open.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { StorageError, type Storage } from '../storage/types.js';

/** The files, relative to the server's data dir. */
export const SHARED_FILES = ['tls/ca.crt', 'tls/ca.key', 'tls/service-account.key', 'node-token'] as const;
type SharedFiles = Partial<Record<(typeof SHARED_FILES)[number], string>>;

interface Sealed {
  version: 1;
  salt: string;
  iv: string;
  tag: string;
  data: string;
}

function deriveKey(token: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(token, salt, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** Where the record of the cluster whose token is `token` lives: k3s's `/bootstrap/<token hash>`. */
export function bootstrapKey(token: string): string {
  return `/bootstrap/${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
}

export async function seal(token: string, files: SharedFiles): Promise<Buffer> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', await deriveKey(token, salt), iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(files)), cipher.final()]);
  const sealed: Sealed = {
    version: 1,
    salt: salt.toString('base64'),
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  };
  return Buffer.from(JSON.stringify(sealed));
}

export async function unseal(token: string, record: Buffer): Promise<SharedFiles> {
  const sealed = JSON.parse(record.toString()) as Sealed;
  if (sealed.version !== 1) throw new Error(`bootstrap data of unknown version ${String(sealed.version)}`);
  const decipher = createDecipheriv(
    'aes-256-gcm',
    await deriveKey(token, Buffer.from(sealed.salt, 'base64')),
    Buffer.from(sealed.iv, 'base64'),
  );
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  try {
    const plain = Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]);
    return JSON.parse(plain.toString()) as SharedFiles;
  } catch {
    throw new Error('the bootstrap data in the datastore does not open with this server token');
  }
}

function readShared(dataDir: string): SharedFiles {
  const files: SharedFiles = {};
  for (const f of SHARED_FILES) {
    const p = path.join(dataDir, f);
    if (existsSync(p)) files[f] = readFileSync(p, 'utf8');
  }
  return files;
}

/**
 * Before the server makes its certificates: when the datastore holds this cluster's bootstrap data,
 * write its files into the data dir (refusing a data dir whose CA is another's); answers whether it did.
 * `publish` afterwards puts this server's files there when none were.
 */
export async function restoreBootstrapData(storage: Storage, token: string, dataDir: string): Promise<boolean> {
  const record = await storage.get(bootstrapKey(token));
  if (!record) return false;
  const files = await unseal(token, record.value);
  const local = readShared(dataDir);
  if (local['tls/ca.crt'] && files['tls/ca.crt'] && local['tls/ca.crt'] !== files['tls/ca.crt'])
    throw new Error(
      `${path.join(dataDir, 'tls/ca.crt')} is not the CA of the cluster in the datastore: give this server a fresh data dir`,
    );
  for (const f of SHARED_FILES) {
    const content = files[f];
    if (content === undefined) continue;
    mkdirSync(path.dirname(path.join(dataDir, f)), { recursive: true, mode: 0o700 });
    writeFileSync(path.join(dataDir, f), content, { mode: f.endsWith('.crt') ? 0o644 : 0o600 });
  }
  return true;
}

/**
 * Put this server's shared files in the datastore when no server has (the first server of a cluster).
 * Two first servers racing on one datastore: the one that wrote second is told to start again afresh.
 */
export async function publishBootstrapData(storage: Storage, token: string, dataDir: string): Promise<void> {
  const key = bootstrapKey(token);
  const mine = readShared(dataDir);
  const current = await storage.get(key);
  if (!current) {
    try {
      await storage.create(key, await seal(token, mine));
      return;
    } catch (err) {
      if (!(err instanceof StorageError && err.code === 'exists')) throw err;
    }
  }
  const theirs = await unseal(token, (current ?? (await storage.get(key)))!.value);
  if (theirs['tls/ca.crt'] !== mine['tls/ca.crt'])
    throw new Error(
      'another server put a different cluster CA into this datastore first: start this server again with a fresh data dir',
    );
}

/**
 * A server joining with `--server`: the first server must answer for the cluster CA taken from the
 * datastore and accept the token, or the datastore and the URL name two clusters.
 */
export async function checkJoinedServer(server: string, ca: string, token: string): Promise<void> {
  const url = new URL('/readyz', server);
  const status = await new Promise<number>((resolve, reject) => {
    const req = https.get(url, { ca, headers: { authorization: `Bearer ${token}` }, timeout: 10_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
  }).catch((err: unknown) => {
    throw new Error(
      `cannot reach the server to join at ${server}: ${err instanceof Error ? err.message : String(err)}`,
    );
  });
  if (status === 401 || status === 403)
    throw new Error(`the server at ${server} refused the token (${status}): give the token of that server`);
  if (status !== 200) throw new Error(`the server at ${server} is not ready (HTTP ${status})`);
}
