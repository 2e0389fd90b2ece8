/**
 * Image references, parsed and normalised exactly as Docker does (distribution/reference):
 * `busybox` is `docker.io/library/busybox:latest`, `localhost:5000/a/b:t` keeps its registry,
 * `name@sha256:...` pins a digest.
 */
import { invalid } from '../common/errors.js';

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';

const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6})`;
const domainAndPort = `${host}(?::[0-9]+)?`;
const tagPat = '[\\w][\\w.-]{0,127}';
const digestPat = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}';
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePat = `(?:${domainAndPort}/)?${remoteName}`;
const referenceRe = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const anchoredIdentifier = /^[a-f0-9]{64}$/;
const NAME_TOTAL_LENGTH_MAX = 255;

export interface Reference {
  /** Registry host, e.g. `docker.io` or `localhost:5000`. */
  readonly domain: string;
  /** Repository path within the registry, e.g. `library/busybox`. */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

export function fullName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The form Docker shows users: `busybox`, `user/app`, `localhost:5000/x`. */
export function familiarName(ref: Reference): string {
  if (ref.domain === DEFAULT_DOMAIN) {
    return ref.path.startsWith(OFFICIAL_REPO_PREFIX) && ref.path.indexOf('/', OFFICIAL_REPO_PREFIX.length) === -1
      ? ref.path.slice(OFFICIAL_REPO_PREFIX.length)
      : ref.path;
  }
  return fullName(ref);
}

export function familiarString(ref: Reference): string {
  let s = familiarName(ref);
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

export function referenceString(ref: Reference): string {
  let s = fullName(ref);
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

function splitDockerDomain(name: string): [string, string] {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  if (
    i === -1 ||
    (!/[.:]/.test(name.slice(0, i)) &&
      name.slice(0, i) !== 'localhost' &&
      name.slice(0, i).toLowerCase() === name.slice(0, i))
  ) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = name.slice(0, i);
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return [domain, remainder];
}

/** True when `s` is a full 64-hex image ID (Docker refuses such strings as repository names). */
export function isFullIdentifier(s: string): boolean {
  return anchoredIdentifier.test(s);
}

/**
 * Parse a reference as the docker CLI and daemon do (ParseNormalizedNamed). Throws `invalid reference format`
 * errors with Docker's wording.
 */
export function parseNormalizedReference(s: string): Reference {
  if (isFullIdentifier(s)) {
    throw invalid(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const [domain, remainder] = splitDockerDomain(s);
  let remoteNameStr = remainder;
  const tagSep = remainder.indexOf(':');
  const atSep = remainder.indexOf('@');
  if (tagSep > -1) remoteNameStr = remainder.slice(0, tagSep);
  else if (atSep > -1) remoteNameStr = remainder.slice(0, atSep);
  if (remoteNameStr.toLowerCase() !== remoteNameStr) {
    throw invalid(`invalid reference format: repository name (${remoteNameStr}) must be lowercase`);
  }
  const m = referenceRe.exec(`${domain}/${remainder}`);
  if (!m) {
    if (s === '') throw invalid('invalid reference format');
    throw invalid('invalid reference format');
  }
  const name = m[1]!;
  if (name.length > NAME_TOTAL_LENGTH_MAX)
    throw invalid('invalid reference format: repository name must not be more than 255 characters');
  const slash = name.indexOf('/');
  const ref: { domain: string; path: string; tag?: string; digest?: string } = {
    domain: name.slice(0, slash),
    path: name.slice(slash + 1),
  };
  if (m[2]) ref.tag = m[2];
  if (m[3]) {
    if (!/^sha256:[a-f0-9]{64}$/.test(m[3])) throw invalid('invalid reference format');
    ref.digest = m[3];
  }
  return ref;
}

/** Like parseNormalizedReference, then adds `latest` when neither tag nor digest is given (TagNameOnly). */
export function parseWithDefaultTag(s: string): Reference {
  const ref = parseNormalizedReference(s);
  return ref.tag || ref.digest ? ref : { ...ref, tag: DEFAULT_TAG };
}

export function withTag(ref: Reference, tag: string): Reference {
  if (!new RegExp(`^${tagPat}$`).test(tag)) throw invalid(`invalid tag format`);
  return { domain: ref.domain, path: ref.path, tag };
}

export function withDigest(ref: Reference, digest: string): Reference {
  return { domain: ref.domain, path: ref.path, digest };
}

export function isValidTag(tag: string): boolean {
  return new RegExp(`^${tagPat}$`).test(tag);
}

/** Validate a repository name as the registry server sees it (no domain). */
export function isValidRepositoryPath(p: string): boolean {
  return new RegExp(`^${remoteName}$`).test(p) && p.length <= NAME_TOTAL_LENGTH_MAX;
}
