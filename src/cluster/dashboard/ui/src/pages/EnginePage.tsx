import { useEffect, useState } from 'preact/hooks';
import { get } from '../api';
import { useLiveList } from '../live';

interface EngineContainer {
  Id: string;
  Names: string[];
  Image: string;
  State: string;
  Status: string;
  Labels?: Record<string, string>;
}

interface EngineImage {
  Id: string;
  RepoTags: string[] | null;
  Size: number;
  Created: number;
}

/** One node's engine, as Docker Desktop shows one: its containers and images, read through the node proxy. */
function NodeEngine(props: { node: string }) {
  const [containers, setContainers] = useState<EngineContainer[]>();
  const [images, setImages] = useState<EngineImage[]>();
  const [error, setError] = useState('');
  useEffect(() => {
    const abort = new AbortController();
    const base = `/api/v1/nodes/${encodeURIComponent(props.node)}/proxy/engine`;
    const load = (): void => {
      Promise.all([
        get<EngineContainer[]>(`${base}/containers`, abort.signal),
        get<EngineImage[]>(`${base}/images`, abort.signal),
      ])
        .then(([c, i]) => {
          setContainers(c);
          setImages(i);
          setError('');
        })
        .catch((err: Error) => !abort.signal.aborted && setError(err.message));
    };
    load();
    const timer = setInterval(load, 5000);
    return () => {
      abort.abort();
      clearInterval(timer);
    };
  }, [props.node]);
  return (
    <section aria-labelledby={`engine-${props.node}`}>
      <h3 id={`engine-${props.node}`}>{props.node}</h3>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {containers && (
        <div class="table-wrap">
          <table>
            <caption>Containers</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Image</th>
                <th scope="col">State</th>
                <th scope="col">Status</th>
                <th scope="col">Pod</th>
              </tr>
            </thead>
            <tbody>
              {containers.map((c) => (
                <tr key={c.Id}>
                  <td>{(c.Names[0] ?? '').replace(/^\//, '')}</td>
                  <td>{c.Image}</td>
                  <td class={c.State === 'running' ? 'ok' : ''}>{c.State}</td>
                  <td>{c.Status}</td>
                  <td>
                    {c.Labels?.['io.kubernetes.pod.namespace'] &&
                      `${c.Labels['io.kubernetes.pod.namespace']}/${c.Labels['io.kubernetes.pod.name']}`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {images && (
        <div class="table-wrap">
          <table>
            <caption>Images</caption>
            <thead>
              <tr>
                <th scope="col">Tags</th>
                <th scope="col">ID</th>
                <th scope="col">Size</th>
              </tr>
            </thead>
            <tbody>
              {images.map((i) => (
                <tr key={i.Id}>
                  <td>{(i.RepoTags ?? []).join(', ') || '<none>'}</td>
                  <td>
                    <code>{i.Id.replace('sha256:', '').slice(0, 12)}</code>
                  </td>
                  <td>{(i.Size / 1048576).toFixed(1)} MiB</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function EnginePage() {
  const nodes = useLiveList('/api/v1/nodes');
  return (
    <section aria-labelledby="engine-title">
      <h2 id="engine-title">Containers and images of each node's engine</h2>
      {nodes.error && (
        <p role="alert" class="error">
          {nodes.error}
        </p>
      )}
      {(nodes.data?.items ?? []).map((n) => (
        <NodeEngine key={n.metadata.name} node={n.metadata.name} />
      ))}
    </section>
  );
}
