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

/** Match Docker's event filters: type, event/action, image, container, label, network, volume, ... */
export function matchesFilters(e: EngineEvent, filters: EventFilters): boolean {
  const has = (key: string, values: string[]): boolean => {
    const f = filters[key];
    return !f || f.length === 0 || f.some((v) => values.includes(v));
  };
  const name = e.Actor.Attributes.name ?? '';
  if (!has('type', [e.Type])) return false;
  if (!has('event', [e.Action, e.Action.split(':')[0]!])) return false;
  if (!has('scope', [e.scope])) return false;
  if (filters.image?.length) {
    if (e.Type !== 'image' && e.Type !== 'container') return false;
    const img = e.Type === 'image' ? [e.Actor.ID, name] : [e.Actor.Attributes.image ?? '', e.from ?? ''];
    if (!filters.image.some((f) => img.includes(f) || img.some((i) => i.split(':')[0] === f))) return false;
  }
  if (
    filters.container?.length &&
    (e.Type !== 'container' || !filters.container.some((c) => e.Actor.ID.startsWith(c) || name === c))
  )
    return false;
  if (
    filters.network?.length &&
    (e.Type !== 'network' || !filters.network.some((n) => e.Actor.ID.startsWith(n) || name === n))
  )
    return false;
  if (filters.volume?.length && (e.Type !== 'volume' || !filters.volume.includes(e.Actor.ID))) return false;
  if (filters.label?.length) {
    for (const l of filters.label) {
      const i = l.indexOf('=');
      const k = i < 0 ? l : l.slice(0, i);
      if (!(k in e.Actor.Attributes)) return false;
      if (i >= 0 && e.Actor.Attributes[k] !== l.slice(i + 1)) return false;
    }
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
