/**
 * The engine's event stream (`/events`): every action on images (and later containers, networks,
 * volumes) is published here with Docker's event shape. A bounded history lets `--since` replay.
 */
import { EventEmitter } from 'node:events';

export type EventType = 'container' | 'image' | 'network' | 'volume' | 'daemon' | 'builder';

export interface EngineEvent {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  /** Legacy fields Docker still sends for containers and images. */
  status?: string;
  id?: string;
  from?: string;
}

export type EventFilters = Record<string, string[]>;

const HISTORY = 1024;

/** The filter keys `/events` takes (moby's daemon/events/filter.go). */
export const EVENT_FILTERS = [
  'config',
  'container',
  'daemon',
  'event',
  'image',
  'label',
  'network',
  'node',
  'plugin',
  'scope',
  'secret',
  'service',
  'type',
  'volume',
] as const;

/** The repository of an image reference without its tag (digests kept whole), as moby's stripTag. */
function stripTag(ref: string): string {
  if (ref.includes('@')) return ref;
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? ref.slice(0, colon) : ref;
}

/**
 * Docker's event filters, as moby's events.Filter applies them: every key given must match (a key's
 * values are alternatives). `type`, `scope`, `image` and `event` match exactly (an `event` filter on
 * health_status, exec_create or exec_start also matches the action's longer form); `container`,
 * `network` and `volume` match the actor's ID by prefix or its name; `label` needs each label.
 */
export function matchesFilters(e: EngineEvent, filters: EventFilters): boolean {
  const values = (key: string): string[] | undefined => (filters[key]?.length ? filters[key] : undefined);
  const exact = (key: string, ...sources: string[]): boolean =>
    !values(key) || values(key)!.some((v) => sources.includes(v));
  const fuzzy = (key: string, ...sources: string[]): boolean =>
    !values(key) || values(key)!.some((v) => sources.some((src) => src !== '' && (src === v || src.startsWith(v))));
  const attrs = e.Actor.Attributes;
  const name = attrs.name ?? '';
  const event = values('event');
  const fuzzyEvent = event?.some((v) => ['health_status', 'exec_create', 'exec_start'].includes(v));
  if (fuzzyEvent ? !fuzzy('event', e.Action) : !exact('event', e.Action)) return false;
  if (!exact('type', e.Type) || !exact('scope', e.scope)) return false;
  if (!fuzzy('daemon', e.Type === 'daemon' ? e.Actor.ID : '', e.Type === 'daemon' ? name : '')) return false;
  for (const kind of ['container', 'network', 'volume', 'plugin', 'node', 'service', 'secret', 'config'] as const)
    if (!fuzzy(kind, e.Type === kind ? e.Actor.ID : '', e.Type === kind ? name : '')) return false;
  const imageName = (e.Type === 'image' ? attrs.name : attrs.image) ?? '';
  if (!exact('image', e.Actor.ID, imageName, stripTag(e.Actor.ID), stripTag(imageName))) return false;
  for (const l of values('label') ?? []) {
    const i = l.indexOf('=');
    const k = i < 0 ? l : l.slice(0, i);
    if (!(k in attrs)) return false;
    if (i >= 0 && attrs[k] !== l.slice(i + 1)) return false;
  }
  return true;
}

export class EventBus {
  private readonly emitter = new EventEmitter();
  private readonly history: EngineEvent[] = [];

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(type: EventType, action: string, id: string, attributes: Record<string, string> = {}): EngineEvent {
    const nowNs = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
    const e: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    if (type === 'image' || type === 'container') {
      e.status = action;
      e.id = id;
      if (type === 'container' && attributes.image) e.from = attributes.image;
    }
    this.history.push(e);
    if (this.history.length > HISTORY) this.history.shift();
    this.emitter.emit('event', e);
    return e;
  }

  /** Events since a time (seconds, fractional allowed), for replay. */
  since(seconds: number): EngineEvent[] {
    return this.history.filter((e) => e.timeNano / 1e9 >= seconds);
  }

  subscribe(fn: (e: EngineEvent) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}
