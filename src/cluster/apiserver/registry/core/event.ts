/** Events (core/v1 and events.k8s.io/v1): kubectl's columns, and the fields `kubectl events` selects on. */
import { resourceType, type ResourceType } from '../../resources.js';
import { age } from '../../../api/age.js';
import type { Strategy } from '../strategy.js';

const event = (r: ResourceType): Strategy => ({
  resource: r,
  fields(o) {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries((o.involvedObject ?? {}) as Record<string, unknown>))
      if (typeof v === 'string') out[`involvedObject.${k}`] = v;
    if (typeof o.type === 'string') out.type = o.type;
    if (typeof o.reason === 'string') out.reason = o.reason;
    return out;
  },
  columns: [
    {
      name: 'Last Seen',
      type: 'string',
      cell: (o) =>
        age(
          (o.lastTimestamp as string | undefined) ??
            (o.eventTime as string | undefined) ??
            o.metadata?.creationTimestamp,
        ),
    },
    { name: 'Type', type: 'string', cell: (o) => o.type ?? '' },
    { name: 'Reason', type: 'string', cell: (o) => o.reason ?? '' },
    {
      name: 'Object',
      type: 'string',
      cell: (o) => {
        const i = (o.involvedObject ?? {}) as { kind?: string; name?: string };
        return `${String(i.kind ?? '').toLowerCase()}/${i.name ?? ''}`;
      },
    },
    { name: 'Message', type: 'string', cell: (o) => o.message ?? '' },
    {
      name: 'Source',
      type: 'string',
      priority: 1,
      cell: (o) => {
        const src = (o.source ?? {}) as { component?: string; host?: string };
        return [src.component, src.host].filter(Boolean).join(', ');
      },
    },
    { name: 'Count', type: 'integer', priority: 1, cell: (o) => o.count ?? 1 },
    { name: 'Name', type: 'string', priority: 1, cell: (o) => o.metadata?.name ?? '' },
  ],
});

export const events = event(resourceType('', 'v1', 'Event', 'events', true, { shortNames: ['ev'] }));
export const eventsV1 = event(resourceType('events.k8s.io', 'v1', 'Event', 'events', true, { shortNames: ['ev'] }));
