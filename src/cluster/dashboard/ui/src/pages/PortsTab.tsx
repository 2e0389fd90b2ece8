import { useEffect, useState } from 'preact/hooks';
import { listForwards, openForward, stopForward, type KObject, type PortForward } from '../api';

interface ContainerPort {
  containerPort: number;
  name?: string;
  protocol?: string;
}

/**
 * A pod's ports, each forwardable with one click: the server opens a loopback port on its machine
 * (as `kubectl port-forward` would there) and the link opens it. From another machine, kubectl does it.
 */
export function PortsTab(props: { pod: KObject }) {
  const m = props.pod.metadata;
  const containers =
    (props.pod.spec as { containers?: Array<{ name: string; ports?: ContainerPort[] }> } | undefined)?.containers ?? [];
  const declared = containers.flatMap((c) =>
    (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => ({ ...p, container: c.name })),
  );
  const [forwards, setForwards] = useState<PortForward[]>([]);
  const [other, setOther] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const mine = forwards.filter((f) => f.namespace === m.namespace && f.pod === m.name);
  const refresh = (): Promise<void> =>
    listForwards()
      .then((r) => setForwards(r.items))
      .catch((err: Error) => setError(err.message));
  useEffect(() => void refresh(), [m.namespace, m.name]);

  const forward = async (port: number): Promise<void> => {
    setBusy(true);
    setError('');
    try {
      await openForward(m.namespace!, m.name, port);
      await refresh();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const stop = async (id: string): Promise<void> => {
    setError('');
    await stopForward(id).catch((err: Error) => setError(err.message));
    await refresh();
  };

  return (
    <div>
      <section aria-labelledby="ports-title">
        <h3 id="ports-title">Ports</h3>
        {declared.length === 0 && <p class="muted">The pod's containers declare no TCP ports.</p>}
        <ul class="plain">
          {declared.map((p) => (
            <li key={`${p.container}/${p.containerPort}`}>
              {p.containerPort}
              {p.name ? ` (${p.name})` : ''} in {p.container}{' '}
              <button type="button" disabled={busy} onClick={() => void forward(p.containerPort)}>
                Forward {p.containerPort}
              </button>
            </li>
          ))}
        </ul>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void forward(Number(other));
          }}
        >
          <label>
            Another port{' '}
            <input
              inputMode="numeric"
              pattern="[0-9]{1,5}"
              required
              value={other}
              onInput={(e) => setOther((e.target as HTMLInputElement).value)}
            />
          </label>{' '}
          <button type="submit" disabled={busy}>
            Forward
          </button>
        </form>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </section>
      <section aria-labelledby="forwards-title">
        <h3 id="forwards-title">Forwarded</h3>
        {mine.length === 0 ? (
          <p class="muted">Nothing forwarded from this pod.</p>
        ) : (
          <ul class="plain">
            {mine.map((f) => (
              <li key={f.id}>
                <a href={f.url} target="_blank" rel="noopener noreferrer">
                  {f.url}
                </a>{' '}
                → port {f.port}{' '}
                <button type="button" onClick={() => void stop(f.id)}>
                  Stop forwarding {f.port}
                </button>
              </li>
            ))}
          </ul>
        )}
        <p class="muted">
          Forwards listen on the server's machine and end with this session. From another machine:{' '}
          <code>
            kubectl port-forward -n {m.namespace} pod/{m.name} LOCAL:REMOTE
          </code>
        </p>
      </section>
    </div>
  );
}
