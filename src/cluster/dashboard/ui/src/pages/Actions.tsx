import { useState } from 'preact/hooks';
import { request, type KObject, type List } from '../api';
import { apiPath, type Kind } from '../kinds';
import { href, navigate } from '../router';

const MERGE = 'application/merge-patch+json';
const STRATEGIC = 'application/strategic-merge-patch+json';

/**
 * What can be done to an object from its page, each one API call as the user (so RBAC decides): scale,
 * rollout restart, delete, and for nodes cordon, uncordon and drain (cordon, then evict its pods as
 * `kubectl drain` does, leaving DaemonSet pods).
 */
export function Actions(props: { kind: Kind; obj: KObject }) {
  const { kind, obj } = props;
  const m = obj.metadata;
  const path = apiPath(kind, m.namespace, m.name);
  const [status, setStatus] = useState<{ ok: boolean; text: string }>();
  const [busy, setBusy] = useState(false);
  const replicas = (obj.spec as { replicas?: number } | undefined)?.replicas ?? 0;
  const [wanted, setWanted] = useState(String(replicas));

  const act = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    setBusy(true);
    setStatus(undefined);
    try {
      await fn();
      setStatus({ ok: true, text: what });
    } catch (err) {
      setStatus({ ok: false, text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };

  const drain = async (): Promise<number> => {
    await request(path, { method: 'PATCH', body: { spec: { unschedulable: true } }, contentType: STRATEGIC });
    const pods = await request<List>(`/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${m.name}`)}`);
    const evictable = pods.items.filter(
      (p) =>
        !(p.metadata.ownerReferences ?? []).some((r) => r.kind === 'DaemonSet') &&
        !p.metadata.annotations?.['kubernetes.io/config.mirror'],
    );
    for (const p of evictable)
      await request(`/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}/eviction`, {
        method: 'POST',
        body: {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: p.metadata.name, namespace: p.metadata.namespace },
        },
      });
    return evictable.length;
  };

  const unschedulable = (obj.spec as { unschedulable?: boolean } | undefined)?.unschedulable === true;
  return (
    <div class="actions" role="group" aria-label="Actions">
      {kind.scalable && (
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            void act(`Scaled to ${wanted}`, () =>
              request(`${path}/scale`, {
                method: 'PATCH',
                body: { spec: { replicas: Number(wanted) } },
                contentType: MERGE,
              }),
            );
          }}
        >
          <label>
            Replicas{' '}
            <input
              type="number"
              min={0}
              value={wanted}
              onInput={(e) => setWanted((e.target as HTMLInputElement).value)}
              aria-describedby="replicas-now"
            />
          </label>
          <span id="replicas-now" class="muted">
            now {replicas}
          </span>
          <button type="submit" disabled={busy}>
            Scale
          </button>
        </form>
      )}
      {kind.restartable && (
        <button
          disabled={busy}
          onClick={() =>
            void act('Restarted (a new rollout)', () =>
              request(path, {
                method: 'PATCH',
                contentType: STRATEGIC,
                body: {
                  spec: {
                    template: {
                      metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } },
                    },
                  },
                },
              }),
            )
          }
        >
          Restart
        </button>
      )}
      {kind.kind === 'Node' && (
        <>
          <button
            disabled={busy}
            onClick={() =>
              void act(unschedulable ? 'Uncordoned' : 'Cordoned', () =>
                request(path, {
                  method: 'PATCH',
                  body: { spec: { unschedulable: !unschedulable } },
                  contentType: STRATEGIC,
                }),
              )
            }
          >
            {unschedulable ? 'Uncordon' : 'Cordon'}
          </button>
          <button
            disabled={busy}
            onClick={() => {
              if (confirm(`Drain ${m.name}: cordon it and evict its pods (not DaemonSet pods)?`))
                void act('Drained', drain);
            }}
          >
            Drain
          </button>
        </>
      )}
      <button
        class="danger"
        disabled={busy}
        onClick={() => {
          if (!confirm(`Delete ${kind.kind} ${m.name}?`)) return;
          void act('Deleted', async () => {
            await request(path, { method: 'DELETE' });
            navigate(href(`/${kind.key}`));
          });
        }}
      >
        Delete
      </button>
      <span role="status" class={status ? (status.ok ? 'ok' : 'error') : ''}>
        {status?.text}
      </span>
    </div>
  );
}
