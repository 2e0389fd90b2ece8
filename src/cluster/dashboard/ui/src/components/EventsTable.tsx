import { useLiveList } from '../live';
import type { KObject } from '../api';

interface EventObject extends KObject {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
  involvedObject?: { kind?: string; name?: string };
}

/** Events, newest first: of one object (`uid`), or the cluster's warnings (`warningsOnly`). */
export function EventsTable(props: { namespace?: string; uid?: string; warningsOnly?: boolean; limit?: number }) {
  const selector = [props.uid && `involvedObject.uid=${props.uid}`, props.warningsOnly && 'type=Warning']
    .filter(Boolean)
    .join(',');
  const base = props.namespace ? `/api/v1/namespaces/${encodeURIComponent(props.namespace)}/events` : '/api/v1/events';
  const live = useLiveList(`${base}${selector ? `?fieldSelector=${encodeURIComponent(selector)}` : ''}`);
  const when = (e: EventObject): string => e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? '';
  const events = ((live.data?.items ?? []) as EventObject[])
    .sort((a, b) => when(b).localeCompare(when(a)))
    .slice(0, props.limit ?? 100);
  if (live.error)
    return (
      <p role="alert" class="error">
        {live.error}
      </p>
    );
  if (!live.data) return <p class="loading">Loading…</p>;
  if (events.length === 0) return <p class="muted">No events.</p>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Last seen</th>
            <th scope="col">Type</th>
            <th scope="col">Reason</th>
            {!props.uid && <th scope="col">Object</th>}
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.metadata.uid}>
              <td>{when(e)}</td>
              <td class={e.type === 'Warning' ? 'warn' : ''}>{e.type}</td>
              <td>{e.reason}</td>
              {!props.uid && (
                <td>
                  {e.involvedObject?.kind}/{e.involvedObject?.name}
                </td>
              )}
              <td>
                {e.message}
                {e.count && e.count > 1 ? ` (×${e.count})` : ''}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
